# Quick start:  make demo   (installs what is missing, builds in release, runs a forward pass)
#               make test   (installs what is missing, runs the test suite)
SWIFT   ?= swift
# Target flags for this CPU (AVX-512 / AVX2); see Scripts/swift-flags.sh.
ARCH_FLAGS := $(shell bash Scripts/swift-flags.sh)
RELEASE    := -c release $(ARCH_FLAGS)

.PHONY: all deps build demo test python-test amx-check info bench bench-backward fixtures clean \
        sanitize sanitize-address sanitize-thread fuzz

all: build

deps:
	@bash Scripts/install-deps.sh

build: deps
	$(SWIFT) build $(RELEASE) --product tfla

demo: build
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla" demo

info: build
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla" info

# Tests run in the release configuration, with the same flags as the product,
# so that they check the code that ships (and the float32 checks at long
# sequences stay quick).
test: deps
	$(SWIFT) build $(RELEASE) --build-tests
	$(SWIFT) test $(RELEASE) --skip-build
	@$(MAKE) --no-print-directory amx-check
	@$(MAKE) --no-print-directory python-test

# The AMX bf16 products' packing and blocking, with the tile instructions
# emulated in software (so it runs on CPUs without AMX), under ASan and
# UBSan. Tests/AMXCheck/amx_check.c says how to check real tiles. First,
# the C target's portable branches (what non-x86 CPUs compile) must compile.
CC ?= cc
amx-check:
	@mkdir -p .build
	@for source in Sources/CTFLAKernels/*.c; do \
		$(CC) -fsyntax-only -Wall -Werror -DTFLA_PORTABLE_ONLY -ISources/CTFLAKernels/include "$$source" || exit 1; done
	$(CC) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -DEMULATE \
		-ISources/CTFLAKernels/include Tests/AMXCheck/amx_check.c -o .build/amx-check -lm -lpthread
	.build/amx-check

# The Python helper (python/) against the tfla just built, in a local venv
# with numpy and pytest. Skipped, with a message, without python3 or when
# the venv cannot be set up (no venv module, no package index).
PYTHON   ?= python3
PY_VENV  := .venv-python
python-test:
	@if ! command -v $(PYTHON) >/dev/null 2>&1; then \
		echo "python-test: $(PYTHON) not found; skipping the Python helper's tests"; exit 0; fi; \
	if ! $(PY_VENV)/bin/python -c "import numpy, pytest" >/dev/null 2>&1; then \
		rm -rf $(PY_VENV); \
		if ! { $(PYTHON) -m venv $(PY_VENV) && $(PY_VENV)/bin/python -m pip install -q numpy pytest; }; then \
			rm -rf $(PY_VENV); \
			echo "python-test: cannot create $(PY_VENV) with numpy and pytest; skipping the Python helper's tests"; exit 0; fi; \
	fi; \
	$(PY_VENV)/bin/python -m pip install -q --no-deps --force-reinstall ./python && \
	TFLA_BIN="$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla" $(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider python/tests

# The Swift suite under AddressSanitizer (with LeakSanitizer) and under
# ThreadSanitizer: release builds with the same target flags, in .build-asan
# and .build-tsan. Fails on any report from any process (the test runner or
# a tfla it starts). Suppressions, toolchain internals only: Tests/Sanitizers/.
# Docs/testing.md, "Sanitizers and fuzzing", states the policy.
sanitize: sanitize-address sanitize-thread

sanitize-address: deps
	ARCH_FLAGS="$(ARCH_FLAGS)" SWIFT="$(SWIFT)" bash Scripts/sanitize.sh address

sanitize-thread: deps
	ARCH_FLAGS="$(ARCH_FLAGS)" SWIFT="$(SWIFT)" bash Scripts/sanitize.sh thread

# Fuzzes the .npy reader (libFuzzer, AddressSanitizer) for FUZZ_SECONDS,
# starting from the seed corpus Fuzz/corpus/npy; fails on any crash, leak,
# hang or oversized allocation (the input is kept in .build-fuzz/artifacts/).
FUZZ_SECONDS ?= 300
fuzz: deps
	SWIFT="$(SWIFT)" bash Fuzz/run.sh $(FUZZ_SECONDS)

# Regenerates the cross-check fixtures from the authors' package (needs
# Python with torch and mlstm-kernels; see the script's header).
fixtures:
	python3 Scripts/make-fixtures.py
	python3 Scripts/make-npy-samples.py

clean:
	rm -rf .build .build-asan .build-tsan .build-fuzz $(PY_VENV)

bench: deps
	$(SWIFT) build $(RELEASE) --product tfla-bench
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla-bench"

# Forward (training mode) + backward at the standard shapes.
bench-backward: deps
	$(SWIFT) build $(RELEASE) --product tfla-bench
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla-bench" --backward
