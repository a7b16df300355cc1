# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv on first use and install exactly requirements.lock (every package, transitive
# ones included, at one version); later calls are quick. `make lock` re-resolves the lock on purpose.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
# The installer itself, pinned too (it builds the editable install of the project, without a
# download: --no-build-isolation).
PIP_VERSION        := 26.3
SETUPTOOLS_VERSION := 84.2.1
# Extra pip options, e.g. where the CPU torch wheel is (this project's machines find it on disk
# through their pip configuration; elsewhere: PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu").
PIP_ARGS ?=
# TORCH=own keeps the torch already in .venv (a CUDA build installed first) instead of the lock's
# CPU build; everything else still comes from the lock.
TORCH ?= lock
# torch for `make lock`: the CPU build the lock records.
LOCK_TORCH ?= torch==2.13.0
LOCK_VENV  ?= /tmp/diagrambot-lock-venv

.PHONY: run test lint bench setup lock clean

$(STAMP): pyproject.toml $(LOCK) package.json package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(PIP_ARGS) "pip==$(PIP_VERSION)" "setuptools==$(SETUPTOOLS_VERSION)"
ifeq ($(TORCH),own)
	$(PY) -c "import torch" || { echo "TORCH=own: install your torch into $(VENV) first (see README)"; exit 1; }
	grep -v '^torch==' $(LOCK) > $(VENV)/lock-without-torch.txt
	$(PY) -m pip install -q $(PIP_ARGS) -r $(VENV)/lock-without-torch.txt
else
	$(PY) -m pip install -q $(PIP_ARGS) -r $(LOCK)
	@# what the lock does not name goes (an older install's leftovers), so .venv is the lock exactly
	@extra=$$($(PY) -m pip freeze --exclude-editable | sed 's/[=@ ].*//' | tr 'A-Z_' 'a-z-' \
		| grep -vxFf <(grep -v '^#' $(LOCK) | sed 's/[=@ ].*//' | tr 'A-Z_' 'a-z-')); \
		if [ -n "$$extra" ]; then echo "removing what the lock does not name: " $$extra; \
		$(PY) -m pip uninstall -q -y $$extra; fi
endif
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@if command -v npm >/dev/null; then npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
		else echo "npm not found: tests/test_mermaid.py will skip its run of Mermaid itself"; fi
	touch $(STAMP)

setup: $(STAMP)

# Re-resolve the lock: the newest versions pyproject.toml allows (torch: LOCK_TORCH, the CPU build),
# in a throw-away venv; then `make test` on it before committing requirements.lock.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q $(PIP_ARGS) "pip==$(PIP_VERSION)" "setuptools==$(SETUPTOOLS_VERSION)"
	$(LOCK_VENV)/bin/python -m pip install -q $(PIP_ARGS) "$(LOCK_TORCH)"
	$(LOCK_VENV)/bin/python -m pip install -q $(PIP_ARGS) --no-build-isolation -e ".[test]"
	{ echo "# Every package of .venv at one version: written by \`make lock\` (pip freeze of a fresh"; \
	  echo "# install of .[test] with $(LOCK_TORCH), CPU build, on Python $$($(LOCK_VENV)/bin/python -c 'import platform; print(platform.python_version())'))."; \
	  echo "# \`make setup\` installs exactly this; tests/test_lock.py checks it against pyproject.toml."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable; } > $(LOCK)
	rm -rf $(LOCK_VENV)
	@echo "wrote $(LOCK): now make test"

run: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/diagrambot generate \
		"A deep learning model with 2 input nodes, 3 and 5 hidden nodes, and 1 output node." \
		--candidates 16 --top 3 --seed 0 --out out/run

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache node_modules
