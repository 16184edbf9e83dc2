#!/usr/bin/env bash
# Builds a binary wheel of the tfla package that installs and runs on a
# Linux x86-64 host without Swift or OpenBLAS: libtfla_c.so and every
# shared library it needs beyond the C/C++ runtime (the Swift runtime and
# Foundation, OpenBLAS, libgfortran, libquadmath) copied into tfla/_lib; the
# package loads them from there (tfla/_lib/preload.txt, in dependency
# order, RTLD_GLOBAL) before the library.
#
#   bash python/build-wheel.sh            # -> dist/tfla-<version>-py3-none-linux_x86_64.whl
#   TFLA_MARCH=x86-64-v3 bash python/build-wheel.sh   # for AVX2 hosts (default: this CPU's level)
#   TFLA_WHEEL_STATIC=1 bash python/build-wheel.sh    # Swift runtime linked in (--static-swift-stdlib)
#
# TFLA_WHEEL_STATIC=1 needs static Foundation libraries: the Linux toolchain
# used here (Swift 6.x in /opt/swift) lacks some (-lCoreFoundation,
# -l_FoundationCShims), so linking the shared library that way fails and
# the default bundles the runtime's shared libraries.
#
# The code is compiled for TFLA_MARCH (see Scripts/setup/swift-flags.sh); the
# installing host needs at least that level. Needs python3 with pip and
# hatchling (or a package index to fetch it from).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
flags=$(bash Scripts/setup/swift-flags.sh)
python=${PYTHON:-python3}
if [ "${TFLA_WHEEL_STATIC:-0}" = 1 ]; then
    build=(swift build -c release --static-swift-stdlib --scratch-path .build-static $flags)
else
    build=(swift build -c release $flags)
fi
"${build[@]}" --product tfla_c >&2
bin=$("${build[@]}" --show-bin-path)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
strip -o "$stage/libtfla_c.so" "$bin/libtfla_c.so"
# Every library the loader resolves for libtfla_c.so, except the C and C++
# runtime every Linux host has.
system='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libutil\.so|libresolv\.so|libstdc\+\+\.so|libgcc_s\.so)'
ldd "$bin/libtfla_c.so" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r name path; do
    if [[ ! "$name" =~ $system ]]; then
        cp "$(readlink -f "$path")" "$stage/$name"
        chmod u+w "$stage/$name"
        strip --strip-unneeded "$stage/$name" 2>/dev/null || true
    fi
done
# preload.txt: the bundled libraries, each after those it needs.
"$python" - "$stage" <<'PY'
import os, subprocess, sys
stage = sys.argv[1]
names = sorted(n for n in os.listdir(stage) if n != "libtfla_c.so")
needs = {}
for name in names:
    out = subprocess.run(["readelf", "-d", os.path.join(stage, name)], capture_output=True, text=True).stdout
    needs[name] = {line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line}
order, done = [], set()
def visit(name, path=()):
    if name in done or name not in needs or name in path:
        return
    for dependency in sorted(needs[name]):
        visit(dependency, path + (name,))
    done.add(name)
    order.append(name)
for name in names:
    visit(name)
with open(os.path.join(stage, "preload.txt"), "w") as handle:
    handle.write("# Loaded in this order (RTLD_GLOBAL) before libtfla_c.so.\n")
    handle.write("".join(name + "\n" for name in order))
PY
echo "bundled:" >&2; (cd "$stage" && ls -l) >&2
mkdir -p dist
isolation=--no-build-isolation
"$python" -c "import hatchling" 2>/dev/null || isolation=   # then pip fetches hatchling
TFLA_LIB_DIR="$stage" "$python" -m pip wheel -q --no-deps $isolation -w dist ./python >&2
ls -l dist/tfla-*.whl
