#!/usr/bin/env bash
# Build floral's compiled core with AddressSanitizer + UndefinedBehaviorSanitizer (gcc) and
# run the core's tests against that build: tests/test_core.py and tests/test_properties.py.
#
# Everything happens in a throw-away directory (kept when FLORAL_KEEP_SANITIZE_DIR=1): a
# copy of the files git tracks, a fresh venv, and a copy of the tests run from outside the
# checkout, so `floral` is imported from the sanitized install and the developer's own
# install is never touched. Needs python3 with venv, gcc (with libasan and libubsan) and
# the package index. Extra pytest arguments: FLORAL_PYTEST_ARGS, e.g. "-x -k projection".
#
#   FLORAL_SANITIZE=1  setup.py adds -fsanitize=address,undefined,float-cast-overflow
#                      -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g (see
#                      BuildExt in setup.py; gcc's "undefined" omits float-cast-overflow)
#   FLORAL_DEBUG=1     the core's own bounds assertions (FLORAL_ASSERT in common.hpp)
#
# CPython is not instrumented, so the ASan runtime is LD_PRELOADed (it has to intercept
# malloc before anything else allocates). Leak detection is off: every allocation the
# core makes is reached through interpreter frames, so a suppression list wide enough for
# CPython's and NumPy's deliberate at-exit leaks would hide the core's leaks as well.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
cxx="${CXX:-g++}"
work="$(mktemp -d "${TMPDIR:-/tmp}/floral-sanitize.XXXXXX")"
if [[ "${FLORAL_KEEP_SANITIZE_DIR:-0}" == "1" ]]; then
    echo "working directory (kept): $work"
else
    trap 'rm -rf "$work"' EXIT
fi
unset PYTHONPATH
export PIP_DISABLE_PIP_VERSION_CHECK=1
start=$SECONDS
step() { printf '\n=== %s  [%ds]\n' "$*" $((SECONDS - start)); }

libasan="$("$cxx" -print-file-name=libasan.so)"
[[ -f "$libasan" ]] || { echo "sanitize: $cxx has no libasan.so ($libasan)" >&2; exit 1; }

step "source: the files git tracks, copied out of the checkout"
mkdir -p "$work/src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
    | xargs -0 cp --parents -t "$work/src")

step "build: FLORAL_SANITIZE=1 FLORAL_DEBUG=1 pip install .[test] into a fresh venv"
"$python" -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
# CC/CXX: the flags are gcc's (clang would need its own runtime preloaded)
CC="${CC:-gcc}" CXX="$cxx" FLORAL_SANITIZE=1 FLORAL_DEBUG=1 \
    "$py" -m pip install --quiet --no-cache-dir "$work/src[test]"
# proof that the flags took: the installed core links both sanitizer runtimes
so="$(find "$work/venv" -path '*/floral/_core/_lib.*.so')"
ldd "$so" | grep -E 'lib(asan|ubsan)\.so'
[[ "$(ldd "$so" | grep -cE 'lib(asan|ubsan)\.so')" -eq 2 ]] \
    || { echo "sanitize: $so is not linked with libasan and libubsan" >&2; exit 1; }

step "tests under ASan + UBSan (runtime: $libasan)"
mkdir -p "$work/run/tests"
cp "$work/src/tests/oracles.py" "$work/src/tests/test_core.py" \
    "$work/src/tests/test_properties.py" "$work/run/tests/"
# -fno-sanitize-recover and halt_on_error: the first report ends the run, non-zero status;
# detect_stack_use_after_return: also catches pointers into a returned frame
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# test_failed_allocation_is_memory_error cannot pass under ASan: its operator new reports
# "out of memory" and aborts instead of throwing std::bad_alloc (allocator_may_return_null
# covers malloc and nothrow new only), so the MemoryError path is left to the plain build.
deselect=(--deselect tests/test_core.py::test_failed_allocation_is_memory_error)
set +e
# shellcheck disable=SC2086  # FLORAL_PYTEST_ARGS: extra pytest arguments, word-split
# --rootdir: the run directory sits under $TMPDIR, and an unrelated setup.py or ini file
# higher up would otherwise become pytest's root and break the node ids above;
# --capture=sys: a sanitizer report is written to file descriptor 2 by C code, and
# pytest's default fd capture swallowed it when the report ended the process mid-test
(cd "$work/run" && LD_PRELOAD="$libasan" "$py" -m pytest -p no:cacheprovider -q -ra \
    --capture=sys --rootdir "$work/run" "${deselect[@]}" ${FLORAL_PYTEST_ARGS:-} tests) \
    2>&1 | tee "$work/pytest.log"
status=${PIPESTATUS[0]}
set -e
if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$work/pytest.log"; then
    echo "sanitize: FAILED: a sanitizer report (above)" >&2
    exit 1
fi
[[ $status -eq 0 ]] || { echo "sanitize: FAILED: pytest exit status $status" >&2; exit 1; }
echo "sanitize: OK in $((SECONDS - start)) s (no ASan or UBSan report)"
