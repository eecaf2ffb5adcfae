# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch and torchvision first, pinned to the releases on this machine's disk (a CUDA build that runs on the CPU)
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	# crypten (the private extra, in dev) requires the deprecated `sklearn` placeholder, which installs only with this
	SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True $(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/robustscope demo

test: $(STAMP)
	# the explorer's browser tests drive the system Chromium (Debian's package; CI runs as root)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q chromium; } || echo "no chromium: browser tests will skip"
	# the worst-case gradient search renders with Mitsuba's llvm_ad_rgb, which needs libLLVM >= 16 (Debian's libllvm19)
	ls /usr/lib/*/libLLVM*.so.19* >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && { apt-get install -y -q libllvm19 || { apt-get update -q && apt-get install -y -q libllvm19; }; }; } || echo "no libLLVM 19: gradient tests will skip"
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .robustscope
