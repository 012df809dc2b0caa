#!/usr/bin/env bash
# Makes the GPU example set (examples/gpu-h100) in one short GPU session, from the repo root:
#
#   bash examples/gpu-h100/run.sh matrix   # throughput bench, data, the whole gpu matrix (~9 min)
#   bash examples/gpu-h100/run.sh 3min     # then: the baseline given 3 minutes of training
#   bash examples/gpu-h100/run.sh bench    # the bench with the ideas still to measure (~5 min)
#
# The machine's own python3 is used as it is (PYTHON=...). Wheels for packages it lacks
# (datasets, dill, multiprocess on the machines we used) may sit in .whl/: they are installed
# into /tmp/site first. Records go to results/gpu-h100 (weights stay on the machine); logs,
# the bench's JSON and a tarball of the records go to $OUT (default: examples/gpu-h100/out).
set -uo pipefail
stage=${1:-matrix}
here=examples/gpu-h100
out=${OUT:-$here/out}
results=${RESULTS:-results/gpu-h100}
profile=${PROFILE:-gpu}
budget=${BUDGET_S:-540}          # stop starting work after this many seconds
PY=${PYTHON:-python3}
start=$(date +%s)
mkdir -p "$out" "$results"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=true

wheels=${WHEELS:-.whl}
if compgen -G "$wheels/*.whl" >/dev/null && [ ! -f /tmp/site/.done ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$wheels"/*.whl && touch /tmp/site/.done || exit 1
fi
[ -d /tmp/site ] && export PYTHONPATH=/tmp/site
$PY -m pipeline.requirements pipeline || exit 2
left() { echo $((budget - ($(date +%s) - start))); }
pack() {  # records only: the weights are ~500 MB per experiment
  tar czf "$out/records-$stage.tgz" -C "$results" --exclude='*/model' --exclude='*/checkpoints' . \
    && echo "records packed: $(tar tzf "$out/records-$stage.tgz" | grep -c 'record.json$') records"
}
trap pack EXIT

case $stage in
matrix)
  { nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    $PY -c "import torch, transformers, sys; print(sys.version.split()[0], torch.__version__, transformers.__version__)"
  } 2>&1 | tee "$out/machine.txt"
  # The data stage is CPU work: it runs beside the (GPU) bench instead of after it.
  $PY -m pipeline --profile "$profile" --results "$results" --matrix $here/matrix.toml data \
    >"$out/data.log" 2>&1 &
  data_pid=$!
  timeout $(( $(left) / 3 )) $PY bench/throughput.py --profile "$profile" \
    --also speed.torch_compile=false --json "$out/throughput.json" 2>&1 \
    | tee "$out/throughput.log" | grep -v -E 'it/s\]|s/it\]' 
  wait $data_pid || { echo "data stage failed: see data.log"; tail -5 "$out/data.log"; exit 1; }
  tail -4 "$out/data.log"
  timeout "$(left)" $PY -m pipeline --profile "$profile" --results "$results" \
    --matrix $here/matrix.toml run 2>&1 | tee "$out/matrix.log" | grep -v -E 'it/s\]|s/it\]'
  ;;
3min)
  # Steps that fill 3 minutes at the steady throughput the baseline measured on this machine,
  # less ~15 s for compiling (from the warm cache) and the evaluations.
  train_s=${SECONDS_3MIN:-165}
  steps=$($PY -c "import json; t = json.load(open('$results/baseline/record.json'))['training']
print(int($train_s * t['tokens_per_second'] / t['tokens_per_step']))") || exit 1
  matrix="$results/matrix-3min.toml"
  cp $here/matrix.toml "$matrix"
  cat >>"$matrix" <<EOF

[baseline-3min]
description = "The baseline given 3 minutes of training: $steps steps, as many as the baseline's measured steady throughput fits in $train_s s, plus compilation and evaluations."
profile.$profile.training.max_steps = $steps
profile.$profile.training.warmup_steps = $(( steps / 10 ))
profile.$profile.training.eval_steps = $(( (steps + 5) / 6 ))
EOF
  cp "$matrix" "$out/"
  echo "baseline-3min: $steps steps"
  timeout "$(left)" $PY -m pipeline --profile "$profile" --results "$results" \
    --matrix "$matrix" experiment baseline-3min 2>&1 | tee "$out/3min.log" | grep -v -E 'it/s\]|s/it\]'
  ;;
bench)
  # Ideas for the 600k tokens/s goal, each one run beside the gpu profile (~40 s of compiling
  # each): a larger micro-batch, no dropout (GPT-2's 0.1 costs RNG and masks), no workers.
  timeout "$(left)" $PY bench/throughput.py --profile "$profile" \
    --also training.per_device_train_batch_size=512 \
    --also "model.resid_pdrop=0.0; model.embd_pdrop=0.0; model.attn_pdrop=0.0" \
    --also speed.dataloader_num_workers=0 \
    --json "$out/throughput-ideas.json" 2>&1 | tee "$out/throughput-ideas.log"
  ;;
*) echo "usage: run.sh matrix|3min|bench"; exit 2 ;;
esac
echo "stage $stage: $(( $(date +%s) - start )) s"
