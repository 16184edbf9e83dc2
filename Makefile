# Quick start:  make demo   (installs what is missing, builds in release, runs a forward pass)
#               make test   (installs what is missing, runs the test suite)
SWIFT   ?= swift
# Target flags for this CPU (AVX-512 / AVX2); see Scripts/setup/swift-flags.sh.
ARCH_FLAGS := $(shell bash Scripts/setup/swift-flags.sh)
RELEASE    := -c release $(ARCH_FLAGS)

.PHONY: all deps build demo test python-test amx-check abi-check info bench bench-backward fixtures clean release-tag \
        sanitize sanitize-address sanitize-thread fuzz

all: build

deps:
	@bash Scripts/setup/install-deps.sh

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
	@$(MAKE) --no-print-directory abi-check
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

# The C interface (libtfla_c.so, Sources/CTFLAABI/include/tfla.h): its
# exported tfla_* symbols must be exactly the header's functions; the test
# program Tests/CABI and the example Examples/c/forward.c are compiled
# against the header, linked against the library and run (Docs/c-abi.md);
# the test program runs again under ASan and UBSan where the compiler can.
ABI_BIN = $$($(SWIFT) build $(RELEASE) --show-bin-path)
abi-check:
	$(SWIFT) build $(RELEASE) --product tfla_c
	@mkdir -p .build
	@bin="$(ABI_BIN)"; \
	nm -D --defined-only "$$bin/libtfla_c.so" | awk '$$2 == "T" && $$3 ~ /^tfla_/ { print $$3 }' | sort > .build/abi-exported.txt; \
	grep -o '\btfla_[a-z0-9_]*(' Sources/CTFLAABI/include/tfla.h | tr -d '(' | sort -u > .build/abi-declared.txt; \
	if ! cmp -s .build/abi-exported.txt .build/abi-declared.txt; then \
		echo "abi-check: libtfla_c.so's exports differ from tfla.h's functions:"; \
		diff .build/abi-exported.txt .build/abi-declared.txt; exit 1; fi; \
	echo "abi-check: libtfla_c.so exports the $$(wc -l < .build/abi-declared.txt) functions of tfla.h"; \
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror -ISources/CTFLAABI/include Examples/c/forward.c \
		-o .build/abi-example -L"$$bin" -ltfla_c -Wl,-rpath,"$$bin" && .build/abi-example && \
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror -ISources/CTFLAABI/include Tests/CABI/abi_test.c Tests/CABI/abi_errors.c \
		-o .build/abi-test -L"$$bin" -ltfla_c -Wl,-rpath,"$$bin" -lm -lpthread && .build/abi-test && \
	if $(CC) -std=c11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -ISources/CTFLAABI/include \
		Tests/CABI/abi_test.c Tests/CABI/abi_errors.c -o .build/abi-test-asan -L"$$bin" -ltfla_c -Wl,-rpath,"$$bin" \
		-lm -lpthread 2>/dev/null; then echo "abi-check: again under AddressSanitizer and UBSan"; .build/abi-test-asan; \
	else echo "abi-check: $(CC) cannot build with -fsanitize=address,undefined; skipping the sanitized run"; fi

# The Python package (python/) against the library and tfla just built, in a
# local venv: numpy and pytest (required; skipped with a message when the
# venv cannot be set up), then torch, ml_dtypes (numpy's bfloat16),
# transformers, mlstm-kernels and xlstm (optional: their tests skip with a
# message when these fail to install).
# The package is installed with the libtfla_c.so built here (TFLA_LIB), so
# pip does not build it a second time.
PYTHON   ?= python3
PY_VENV  := .venv-python
PY_TORCH ?= torch==2.13.0
python-test:
	@if ! command -v $(PYTHON) >/dev/null 2>&1; then \
		echo "python-test: $(PYTHON) not found; skipping the Python package's tests"; exit 0; fi; \
	if ! $(PY_VENV)/bin/python -c "import numpy, pytest, hatchling" >/dev/null 2>&1; then \
		$(PY_VENV)/bin/python -c "" >/dev/null 2>&1 || { rm -rf $(PY_VENV); $(PYTHON) -m venv $(PY_VENV); }; \
		if ! $(PY_VENV)/bin/python -m pip install -q numpy pytest hatchling; then \
			echo "python-test: cannot set up $(PY_VENV) with numpy, pytest and hatchling; skipping the Python package's tests"; exit 0; fi; \
	fi; \
	if ! $(PY_VENV)/bin/python -c "import torch" >/dev/null 2>&1; then \
		$(PY_VENV)/bin/python -m pip install -q "$(PY_TORCH)" || \
			echo "python-test: torch did not install; its tests will be skipped"; fi; \
	if ! $(PY_VENV)/bin/python -c "import ml_dtypes" >/dev/null 2>&1; then \
		$(PY_VENV)/bin/python -m pip install -q ml_dtypes || \
			echo "python-test: ml_dtypes did not install; the numpy bfloat16 tests will be skipped"; fi; \
	if ! $(PY_VENV)/bin/python -c "import transformers, mlstm_kernels, xlstm, einops" >/dev/null 2>&1; then \
		{ $(PY_VENV)/bin/python -m pip install -q transformers einops && \
		  $(PY_VENV)/bin/python -m pip install -q --no-deps mlstm-kernels==2.0.6 xlstm; } || \
			echo "python-test: transformers / mlstm-kernels / xlstm did not install; the backend tests will be skipped"; fi; \
	$(SWIFT) build $(RELEASE) --product tfla_c && $(SWIFT) build $(RELEASE) --product tfla && \
	bin="$$($(SWIFT) build $(RELEASE) --show-bin-path)" && \
	TFLA_LIB="$$bin/libtfla_c.so" $(PY_VENV)/bin/python -m pip install -q --no-deps --no-build-isolation \
		--force-reinstall ./python && \
	TFLA_BIN="$$bin/tfla" $(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider python/tests

# The Swift suite under AddressSanitizer (with LeakSanitizer) and under
# ThreadSanitizer: release builds with the same target flags, in .build-asan
# and .build-tsan. Fails on any report from any process (the test runner or
# a tfla it starts). Suppressions, toolchain internals only: Tests/Sanitizers/.
# Docs/testing.md, "Sanitizers and fuzzing", states the policy.
sanitize: sanitize-address sanitize-thread

sanitize-address: deps
	ARCH_FLAGS="$(ARCH_FLAGS)" SWIFT="$(SWIFT)" bash Scripts/build/sanitize.sh address

sanitize-thread: deps
	ARCH_FLAGS="$(ARCH_FLAGS)" SWIFT="$(SWIFT)" bash Scripts/build/sanitize.sh thread

# Fuzzes the .npy reader (libFuzzer, AddressSanitizer) for FUZZ_SECONDS,
# starting from the seed corpus Fuzz/corpus/npy; fails on any crash, leak,
# hang or oversized allocation (the input is kept in .build-fuzz/artifacts/).
FUZZ_SECONDS ?= 300
fuzz: deps
	SWIFT="$(SWIFT)" bash Fuzz/run.sh $(FUZZ_SECONDS)

# Regenerates the cross-check fixtures from the authors' package (needs
# Python with torch and mlstm-kernels; see the script's header).
fixtures:
	python3 Scripts/fixtures/make-fixtures.py
	python3 Scripts/fixtures/make-npy-samples.py

clean:
	rm -rf .build .build-asan .build-tsan .build-fuzz $(PY_VENV)

bench: deps
	$(SWIFT) build $(RELEASE) --product tfla-bench
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla-bench"

# Forward (training mode) + backward at the standard shapes.
bench-backward: deps
	$(SWIFT) build $(RELEASE) --product tfla-bench
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla-bench" --backward

# The annotated tag v<BuildInfo.version> for publishing (Scripts/release/tag.sh):
# refused with a dirty tree, an existing tag, or no CHANGELOG.md section for
# the version with a release date.
release-tag:
	@bash Scripts/release/tag.sh
