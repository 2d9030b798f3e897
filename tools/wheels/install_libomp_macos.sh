#!/usr/bin/env bash
# Install LLVM's OpenMP runtime (libomp.dylib + omp.h) from conda-forge into PREFIX, for
# the macOS wheel builds (cibuildwheel's before-all; see [tool.cibuildwheel.macos] in
# pyproject.toml). conda-forge's llvm-openmp is built for an old macOS deployment target,
# so the wheels that bundle it (delocate) keep a low minimum macOS; Homebrew's libomp is
# built for the runner's own macOS version.
#
# usage: install_libomp_macos.sh PREFIX
# FLORAL_LLVM_OPENMP_SPEC overrides the conda package spec (default: llvm-openmp, newest).
set -euo pipefail

prefix="${1:?usage: install_libomp_macos.sh PREFIX}"
spec="${FLORAL_LLVM_OPENMP_SPEC:-llvm-openmp}"
arch="$(uname -m)"  # x86_64 or arm64: the runner builds its own architecture only

# Miniforge stays in $tmp after this script: the environment's files are linked from its
# package cache.
tmp="$(mktemp -d)"
curl -fsSL --retry 3 -o "$tmp/miniforge.sh" \
    "https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-MacOSX-${arch}.sh"
bash "$tmp/miniforge.sh" -b -p "$tmp/miniforge" > /dev/null
rm -f "$tmp/miniforge.sh"
"$tmp/miniforge/bin/conda" create --yes --quiet --prefix "$prefix" \
    --override-channels --channel conda-forge "$spec"

test -f "$prefix/include/omp.h"
test -f "$prefix/lib/libomp.dylib"
echo "libomp installed in $prefix:"
"$tmp/miniforge/bin/conda" list --prefix "$prefix" llvm-openmp
# The minimum macOS the library needs: MACOSX_DEPLOYMENT_TARGET must be at least this.
otool -l "$prefix/lib/libomp.dylib" | grep -A4 -E 'LC_BUILD_VERSION|LC_VERSION_MIN_MACOSX' || true
otool -L "$prefix/lib/libomp.dylib"
