#!/usr/bin/env bash
# Makes the GPU example set (examples/gpu-h200) in one device call, from the repo root:
#
#   bash examples/gpu-h200/run.sh     # throughput ideas beside the data stage, then the gpu matrix
#
# The machine's own python3 is used as it is. Carried along (ignored by git, named in `carry`):
# .whl/ wheels of the packages it lacks (datasets, nbformat and their needs), and
# .gpu/downloads/ the example sdists of the corpus's usage part, cut to their example folders
# (make fetch's files are 60 MB). `bash examples/gpu-h200/prepare.sh` makes both folders. Records go to results/gpu-h200 (weights stay on the machine);
# logs, the bench's JSON and a tarball of the records go to $OUT (default: examples/gpu-h200/out).
set -uo pipefail
here=examples/gpu-h200
out=${OUT:-$here/out}
results=${RESULTS:-results/gpu-h200}
budget=${BUDGET_S:-560}          # stop starting work after this many seconds
PY=${PYTHON:-python3}
start=$(date +%s)
mkdir -p "$out" "$results" cache
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=true

if compgen -G ".whl/*.whl" >/dev/null && [ ! -f /tmp/site/.done ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && touch /tmp/site/.done || exit 1
fi
[ -d /tmp/site ] && export PYTHONPATH=/tmp/site
[ -d .gpu/downloads ] && { rm -rf cache/downloads; cp -r .gpu/downloads cache/downloads; }
$PY -m pipeline.requirements pipeline || exit 2
left() { echo $((budget - ($(date +%s) - start))); }
pack() {  # records only: the weights are ~500 MB per experiment
  tar czf "$out/records.tgz" -C "$results" --exclude='*/model' --exclude='*/checkpoints' . \
    && echo "records packed: $(tar tzf "$out/records.tgz" | grep -c 'record.json$') records"
}
trap pack EXIT

{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $PY -c "import torch, transformers, sys; print(sys.version.split()[0], torch.__version__, transformers.__version__)"
  nproc
} 2>&1 | tee "$out/machine.txt"
# The data stage is CPU work: it runs beside the (GPU) bench instead of after it.
$PY -m pipeline --profile gpu --results "$results" --matrix $here/matrix.toml data >"$out/data.log" 2>&1 &
data_pid=$!
# The ideas of bench/gpu-notes.md, each beside the gpu profile (goal: >= 45 % MFU on the H200):
# a micro-batch of 512, CUDA graphs (compile mode reduce-overhead) and both together. ~40 s of
# compiling each; the matrix gets what is left of the budget (its seed replicas run last).
timeout 200 $PY bench/throughput.py --profile gpu --steps 40 --course-steps 4 \
  --also training.per_device_train_batch_size=512 \
  --also 'speed.torch_compile_mode="reduce-overhead"' \
  --also training.per_device_train_batch_size=512 'speed.torch_compile_mode="reduce-overhead"' \
  --json "$out/throughput.json" 2>&1 | tee "$out/throughput.log" | grep -v -E 'it/s\]|s/it\]'
wait $data_pid || { echo "data stage failed: see data.log"; tail -5 "$out/data.log"; exit 1; }
grep -v -E 'it/s\]|s/it\]|examples/s\]' "$out/data.log" | tail -6
timeout "$(left)" $PY -m pipeline --profile gpu --results "$results" --matrix $here/matrix.toml run 2>&1 \
  | tee "$out/matrix.log" | grep -v -E 'it/s\]|s/it\]'
echo "run.sh: $(( $(date +%s) - start )) s"
