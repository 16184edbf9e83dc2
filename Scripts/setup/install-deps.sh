#!/usr/bin/env bash
# Installs the system packages the build needs, only when they are missing:
# OpenBLAS (linked as libopenblas, see Package.swift) and pkg-config.
set -euo pipefail
missing=()
for pkg in libopenblas-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing ${missing[*]} ..." >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
