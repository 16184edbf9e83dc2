# Quick start:  make demo   (installs what is missing, builds in release, runs a forward pass)
#               make test   (installs what is missing, runs the test suite)
SWIFT   ?= swift
# Target flags for this CPU (AVX-512 / AVX2); see Scripts/swift-flags.sh.
ARCH_FLAGS := $(shell bash Scripts/swift-flags.sh)
RELEASE    := -c release $(ARCH_FLAGS)

.PHONY: all deps build demo test info bench bench-backward fixtures clean

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

# Regenerates the cross-check fixtures from the authors' package (needs
# Python with torch and mlstm-kernels; see the script's header).
fixtures:
	python3 Scripts/make-fixtures.py
	python3 Scripts/make-npy-samples.py

clean:
	rm -rf .build

bench: deps
	$(SWIFT) build $(RELEASE) --product tfla-bench
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla-bench"

# Forward (training mode) + backward at the standard shapes.
bench-backward: deps
	$(SWIFT) build $(RELEASE) --product tfla-bench
	"$$($(SWIFT) build $(RELEASE) --show-bin-path)/tfla-bench" --backward
