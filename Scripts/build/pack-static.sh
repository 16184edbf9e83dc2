#!/usr/bin/env bash
# Packs a release build of `tfla` and `tfla-bench` that runs on another
# Linux x86-64 host without Swift or OpenBLAS installed: the Swift runtime
# linked statically, OpenBLAS and its Fortran runtime copied beside the
# binaries, a launcher that points the loader at them.
#
#   bash Scripts/build/pack-static.sh                 # -> dist/tfla-static.tar.xz
#   TFLA_MARCH=x86-64-v4 bash Scripts/build/pack-static.sh   # for an AVX-512 host
#   # on the other host:
#   tar xJf tfla-static.tar.xz && tfla-static/run tfla-bench --threads-sweep 1,2,4,8,16
#
# The code is compiled for TFLA_MARCH (default: this machine's level, see
# Scripts/setup/swift-flags.sh); the other host needs at least that level.
set -euo pipefail
cd "$(dirname "$0")/../.."
flags=$(bash Scripts/setup/swift-flags.sh)
scratch=.build-static
for product in tfla tfla-bench; do
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" $flags --product "$product" >&2
done
bin=$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" $flags --show-bin-path)
stage=dist/tfla-static
rm -rf "$stage" && mkdir -p "$stage/lib"
for product in tfla tfla-bench; do strip -o "$stage/$product" "$bin/$product"; done
# The shared libraries the binaries still need beyond glibc.
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
    path=$(ldd "$bin/tfla" | awk -v name="$lib" '$1 == name { print $3 }')
    [ -n "$path" ] && cp "$(readlink -f "$path")" "$stage/lib/$lib"
done
cat > "$stage/run" <<'LAUNCH'
#!/usr/bin/env bash
# Runs tfla or tfla-bench from this directory with the libraries beside it.
here=$(cd "$(dirname "$0")" && pwd)
tool=$1; shift
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/$tool" "$@"
LAUNCH
chmod +x "$stage/run"
tar -C dist -cJf dist/tfla-static.tar.xz tfla-static
du -h dist/tfla-static.tar.xz >&2
