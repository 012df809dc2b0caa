# make all: venv -> data -> experiments -> report. Run `make help` for every target.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

VENV    ?= .venv
PYTHON  ?= $(VENV)/bin/python
PROFILE ?=
RESULTS ?=
OUT     ?=
JOBS    ?=
export JOBS
MATRIX  ?=
DATA    ?=
SET     ?=
# MATRIX=file.toml runs (and reports) that matrix instead of experiments/matrix.toml.
# DATA=path/to/code (a folder of .py files, a .jsonl or a .parquet) trains the matrix on it;
# SET="training.max_steps=100 seed=1" sets values for every experiment (python -m pipeline --set).
# Another MATRIX, PROFILE (micro, your own), DATA or SET writes results-<tag>/ and build-<tag>/
# (`make where` prints them); the default matrix on cpu/gpu/colab keeps results/ and build/.
MATRIX_ARG := $(if $(MATRIX),--matrix '$(MATRIX)') $(if $(DATA),--set data.source=path --set 'data.path=$(DATA)') $(foreach s,$(SET),--set '$(s)') $(if $(RESULTS),--results '$(RESULTS)')
OUT_ARG := $(if $(OUT),--out '$(OUT)')
export PROFILE PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true

# With the default PYTHON the project's own venv is built; with PYTHON=python3 (a cluster module,
# a container with torch already in it) the interpreter is used as it is, after an import check.
# Each target checks only the part it runs: a GPU box without weasyprint can still train.
ifeq ($(PYTHON),$(VENV)/bin/python)
SETUP := $(VENV)/.installed
SETUP_PIPELINE := $(SETUP)
SETUP_REPORT := $(SETUP)
else
SETUP := check-env
SETUP_PIPELINE := check-env-pipeline
SETUP_REPORT := check-env-report
endif

DOWNLOADS := cache/downloads/.fetched

.PHONY: fetch help all where tensorboard setup sandbox examples-report check-env check-env-pipeline check-env-report data experiments experiment list report test test-fast lint format bench bench-fixed-time clean distclean

help: ## list the targets
	@echo "Usage: make <target> [PROFILE=cpu|gpu|colab|micro] [NAME=experiment] [PYTHON=python3] [MATRIX=file.toml] [DATA=path/to/code] [SET="key=value ..."] [JOBS=1|2]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

all: $(SETUP) $(DOWNLOADS) ## venv, data, every experiment not yet up to date, then the report
	@start=$$(date +%s); status=0; \
	$(PYTHON) -m pipeline $(MATRIX_ARG) run || status=$$?; \
	if [ $$status -eq 2 ]; then exit 2; fi; \
	failed=$$([ $$status -eq 0 ] || echo --failed-run); \
	$(PYTHON) -m report $(MATRIX_ARG) $(OUT_ARG) $$failed; \
	echo "make all: $$(( $$(date +%s) - start )) s"; \
	exit $$status

setup: $(SETUP) $(DOWNLOADS) sandbox ## create .venv, install the pinned requirements, fetch the example sdists

# HumanEval runs model-written code under bubblewrap (pipeline/sandbox.py); installed here only
# where it is missing and apt-get can (root). Without it HumanEval refuses to run, unless
# HUMANEVAL_SANDBOX=unsafe-local; everything else works: a failed install is a warning.
sandbox: ## install bubblewrap (HumanEval's sandbox) if it is missing
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq bubblewrap || (apt-get update -qq && apt-get install -y -qq bubblewrap)) >/dev/null 2>&1 \
	      && echo "setup: installed bubblewrap" || echo "setup: warning: could not install bubblewrap"; \
	  else echo "setup: warning: no bwrap (apt-get install bubblewrap): HumanEval will refuse to run"; fi; }

# The corpus's `examples` part reads the seaborn / scikit-learn / matplotlib sdists: downloaded
# once here so the data stage stays offline. A failed download is reported and skipped (the
# stamp is written all the same: `make fetch` tries again).
$(DOWNLOADS): | $(SETUP)
	$(PYTHON) -m pipeline.fetch --dest $(@D)
	@mkdir -p $(@D) && touch $@  # also when every download failed (no folder yet)

fetch: $(SETUP) ## download the example sdists the corpus uses (again, if one failed)
	$(PYTHON) -m pipeline.fetch --dest $(dir $(DOWNLOADS))
	@mkdir -p $(dir $(DOWNLOADS)) && touch $(DOWNLOADS)

$(VENV)/.installed: requirements.txt
	@start=$$(date +%s); \
	test -x $(VENV)/bin/python || python3 -m venv $(VENV); \
	$(VENV)/bin/python -m pip install --quiet --upgrade pip; \
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt; \
	echo "setup: $$(( $$(date +%s) - start )) s"
	@touch $@

check-env: ## with PYTHON=..., check that the needed packages import in that interpreter
	$(PYTHON) -m pipeline.requirements all

check-env-pipeline check-env-report: check-env-%:
	$(PYTHON) -m pipeline.requirements $*

data: $(SETUP_PIPELINE) $(DOWNLOADS) ## build corpus, tokenizer and chunks (cached in cache/)
	$(PYTHON) -m pipeline $(MATRIX_ARG) data

experiments: $(SETUP_PIPELINE) $(DOWNLOADS) ## run every experiment whose record is missing or out of date
	$(PYTHON) -m pipeline $(MATRIX_ARG) run

experiment: $(SETUP_PIPELINE) $(DOWNLOADS) ## rerun one experiment, always: make experiment NAME=lr-x4
	@test -n "$(NAME)" || { echo "usage: make experiment NAME=<name>  (names: make list)"; exit 2; }
	$(PYTHON) -m pipeline $(MATRIX_ARG) experiment $(NAME)

where: ## print the results and report folders of this MATRIX / PROFILE / DATA / SET
	$(PYTHON) -m pipeline $(MATRIX_ARG) where

tensorboard: $(SETUP_PIPELINE) ## TensorBoard over the results of this MATRIX / PROFILE / DATA / SET
	$(PYTHON) -m tensorboard.main --logdir "$$($(PYTHON) -m pipeline $(MATRIX_ARG) where | sed -n 's/^results //p')"

list: $(SETUP_PIPELINE) ## list the experiments and whether each is up to date
	$(PYTHON) -m pipeline $(MATRIX_ARG) list

report: $(SETUP_REPORT) ## render report.md/.html/.pdf from the records only (no training)
	$(PYTHON) -m report $(MATRIX_ARG) $(OUT_ARG)

examples-report: $(SETUP_REPORT) ## re-render examples/gpu-*/report from their GPU records
	for e in gpu-h100 gpu-h200; do \
	  $(PYTHON) -m report --results examples/$$e/records --matrix examples/$$e/matrix.toml \
	    --profile gpu --out examples/$$e/report --no-notebooks; \
	  rm -f examples/$$e/report/report.html; \
	done  # report.html inlines every figure (~440 kB): md and pdf are enough

test: $(SETUP) ## the test suite (what CI runs)
	$(PYTHON) -m pytest -q

test-fast: $(SETUP) ## the tests without the slow (training) ones
	$(PYTHON) -m pytest -q -m "not slow"

lint: $(SETUP) ## ruff lint and format check
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format: $(SETUP) ## ruff format and autofix
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

bench: $(SETUP) ## benchmarks: data stage, report render, training throughput (minutes)
	for b in data report throughput; do echo "== bench/$$b.py"; $(PYTHON) bench/$$b.py; done

bench-fixed-time: $(SETUP) ## course recipe vs baseline, same wall clock: MINUTES=10 (2x that long)
	$(PYTHON) bench/fixed_time.py --minutes $${MINUTES:-10}

clean: ## remove the report and the experiment results (keeps the data cache and .venv)
	rm -rf $(or $(OUT),build) $(or $(RESULTS),results)  # results-<tag>/: remove it by hand

distclean: clean ## also remove the data cache and .venv
	rm -rf cache $(VENV)
