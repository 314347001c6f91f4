# Miglane: `make run` brings the system up, `make test` runs the tests. Both work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_CLIENT := examples/node-client
NODE_STAMP := $(NODE_CLIENT)/node_modules/.installed
PROTO_SRC := $(wildcard proto/miglane/v1/*.proto)
# libvirt-python builds against libvirt-dev; the TUI test drives tmux; the store tests start their
# own private PostgreSQL server from Debian's binaries (never the system service).
DEBIAN_BUILD_DEPS := libvirt-dev pkg-config tmux postgresql

.PHONY: setup test check fmt lint types contracts buf proto proto-check run down bench clean

setup: $(STAMP) $(NODE_STAMP)

# The Node.js client example (examples/node-client) and its test need its npm packages.
$(NODE_STAMP): $(NODE_CLIENT)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(NODE_CLIENT) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the Node.js client example's test will be skipped"; fi

$(STAMP): pyproject.toml setup.py
	@missing=""; for p in $(DEBIAN_BUILD_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "need Debian packages:$$missing (run as root or apt-get install them)"; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,dev]'
	touch $(STAMP)

test: setup
	$(BIN)/pytest -q

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

types: setup
	$(BIN)/mypy proto engine agent tui lab cli common testing pki

contracts: setup
	$(BIN)/lint-imports

BUF := npx --yes @bufbuild/buf@1.50.0
# The contracts as released: `make buf` fails on a change that would break their clients. At a
# release, write the next image (`cd proto && $(BUF) build -o released/vX.Y.binpb`) and point
# RELEASED_CONTRACTS at it.
RELEASED_CONTRACTS := released/v0.2.binpb

buf:
	cd proto && $(BUF) lint && $(BUF) breaking --against $(RELEASED_CONTRACTS)

proto: setup
	$(PY) -m grpc_tools.protoc -I proto \
	  --python_out=proto --pyi_out=proto --grpc_python_out=proto $(PROTO_SRC)

# Fails when the committed generated code differs from what `make proto` makes.
proto-check: proto
	@git diff --exit-code --stat -- proto/ || { echo "generated code is stale: run 'make proto' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto/)" || { git status --porcelain -- proto/; echo "untracked generated files: run 'make proto' and commit"; exit 1; }

check: lint types contracts buf proto-check test

run: setup
	$(BIN)/miglane demo up

down: setup
	$(BIN)/miglane demo down

bench: setup
	$(PY) bench/run_all.py $(BENCH)

clean:
	rm -rf $(VENV) build *.egg-info
