# neurocompile — all set-up happens here. `make demo` and `make test` work on a fresh clone.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# lava-nc 0.10.0 (issue 3) declares Python <3.11, so pip cannot resolve it here: it is installed with
# --no-deps --ignore-requires-python next to asteval, its one runtime dependency that the project does not
# already pull in (numpy<2, networkx<=2.8.7, scipy and scikit-learn come from pyproject.toml); then
# backends/lava/install.py checks the version and requirements, patches lava for 3.11 and runs a check.
LAVA_PKGS := lava-nc==0.10.0 asteval==0.9.33
LAVA_STAMP := $(VENV)/.lava-installed
DEB_PACKAGES := dataset-fashion-mnist iverilog verilator yosys
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: all setup deb lava demo test test-fast bench clean

all: setup

# Debian packages: installed when missing and root is available; otherwise say what is missing.
deb:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get install -y -q $$missing >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null)) \
	      || { echo "apt-get install$$missing failed" >&2; exit 1; }; \
	  else \
	    echo "warning: Debian packages missing:$$missing (run as root: apt-get install$$missing)" >&2; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

$(LAVA_STAMP): $(STAMP) backends/lava/install.py
	$(BIN)/python -m pip install -q --no-deps --ignore-requires-python $(LAVA_PKGS)
	$(BIN)/python -m neurocompile.backends.lava.install
	touch $(LAVA_STAMP)

lava: $(LAVA_STAMP)

setup: deb $(STAMP) lava

demo: setup
	$(BIN)/neurocompile build examples/digits_cnn.pt2 --target intsim --timesteps 32 --calib digits --out build/digits --force
	$(BIN)/neurocompile simulate build/digits --dataset digits --json build/digits-sim.json
	$(BIN)/neurocompile build examples/digits_cnn.pt2 --target loihi2-sim --timesteps 32 --calib digits --out build/digits-loihi --force
	$(BIN)/neurocompile simulate build/digits-loihi --backend lava --dataset digits --limit 20 --json build/digits-lava.json

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf build .pytest_cache
