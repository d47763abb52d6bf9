# drgym: `make demo` and `make test` each build .venv from nothing (Python 3.11 + pip, no GPU, no internet
# beyond the package index) and run. torch==2.13.0 is installed first: it is the CPU build on these machines.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.drgym-installed

.PHONY: demo test lint system-packages venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# OpenRLHF without its GPU stack (deepspeed, flash-attn, vllm): enough for the agent-adapter tests.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps 'openrlhf==0.11.2'
	touch $(STAMP)

venv: $(STAMP)

system-packages:
	@missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v tmux >/dev/null 2>&1 || missing="$$missing tmux"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: apt-get could not install$$missing; the shell tool needs them"; \
	  else \
	    echo "warning: missing system packages:$$missing (the shell tool needs them): sudo apt-get install$$missing"; \
	  fi; \
	fi

demo: system-packages $(STAMP)
	$(BIN)/drgym demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: system-packages $(STAMP) lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
