"""How floral is built and what it reports about its build.

- the serial build (FLORAL_DISABLE_OPENMP=1, what setup.py falls back to when the compiler
  has no OpenMP) builds, imports, says so in build_info() / show_config(), and computes the
  same dual variables as the OpenMP build this test session runs on;
- show_config() / `floral show-config` / `python -m floral --version` report version and
  OpenMP;
- the type stub of the compiled module lists exactly what the module exports, passes
  mypy's stubtest (signatures and types against the compiled module), and both it and
  py.typed are installed beside the package; floral_fit returns its typed result.

The serial build needs the source tree (setup.py, the .pyx and .hpp files), a C++ compiler
and floral's build requirements (from this environment, or fetched by pip into an isolated
one); where any is missing (an installed wheel under test, cibuildwheel's test
environment, no compiler, no package index) that test is skipped.
"""
import ast
import inspect
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_moons

import floral
from floral import _core
from floral._core import _lib, _testing

ROOT = Path(__file__).resolve().parents[1]
CORE_SRC = ROOT / "floral" / "_core"


# --- the serial (no OpenMP) build --------------------------------------------------------

# pip's output when the build cannot even start here: no compiler, or no package index
# to fetch the build requirements from. Anything else that fails is a real failure.
NO_COMPILER = re.compile(r"unable to execute|command '[^']*' failed: No such file"
                         r"|Microsoft Visual C\+\+ 14\.0 or greater is required")
NO_INDEX = re.compile(r"No matching distribution found|Could not find a version that satisfies"
                      r"|Failed to establish a new connection|Temporary failure in name resolution"
                      r"|Network is unreachable")


def _local_build_tools():
    """True when this environment has floral's build requirements, so pip can build
    without an isolated environment (fast, and offline)."""
    from importlib.metadata import PackageNotFoundError, version

    need = {"setuptools": 77, "Cython": 3, "numpy": 2, "scipy": 1}
    try:
        return all(int(version(name).split(".")[0]) >= major for name, major in need.items())
    except (PackageNotFoundError, ValueError):
        return False


@pytest.fixture(scope="module")
def serial_floral(tmp_path_factory):
    """floral built with FLORAL_DISABLE_OPENMP=1, as setup.py builds it when the compiler
    has no OpenMP: `pip wheel` of a copy of the source tree (so the checkout is not
    touched), unpacked into OUT. Returns OUT (put it first on PYTHONPATH)."""
    if not (ROOT / "setup.py").is_file() or not (CORE_SRC / "_lib.pyx").is_file():
        pytest.skip("source tree not available (testing an installed floral)")
    if os.environ.get("CIBUILDWHEEL") == "1":
        pytest.skip("cibuildwheel tests the wheel it built; .ci/run covers the serial build")
    tmp = tmp_path_factory.mktemp("serial-build")
    src, out, wheels = tmp / "src", tmp / "out", tmp / "wheels"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, src)
    shutil.copytree(ROOT / "floral", src / "floral", ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "*.pyd", "*.cpp", "*.o"))

    isolation = ["--no-build-isolation"] if _local_build_tools() else []
    env = {**os.environ, "FLORAL_DISABLE_OPENMP": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", *isolation,
         "--wheel-dir", str(wheels), str(src)],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        if NO_COMPILER.search(log):
            pytest.skip("no working C++ compiler")
        if NO_INDEX.search(log):
            pytest.skip("floral's build requirements cannot be fetched here")
        pytest.fail(f"the serial build failed:\n{log[-5000:]}")
    assert "OpenMP not available; building the core serially" in log
    (wheel,) = wheels.glob("floral_svm-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(out)
    return out


def _moons_problem():
    X, y = make_moons(300, noise=0.25, random_state=0)
    return X, (2 * y - 1).astype(np.int8), np.full(300, 10.0), np.zeros(300)


# Two regimes of the round loop: the default one (dense passes and periodic refreshes of
# f = K (y~ * lam)) and the incremental one (f only updated column by column).
FIT_SETTINGS = {
    "default": dict(n_rounds=200, flip_budget=15, seed=3, gamma=1.0),
    "incremental": dict(n_rounds=200, flip_budget=15, seed=3, gamma=1.0, refresh=0,
                        dense_fraction=2.0),
}

SERIAL_SCRIPT = textwrap.dedent(
    """
    import io, sys
    import numpy as np
    from sklearn.datasets import make_moons
    import floral
    from floral import _core

    assert floral.__file__.startswith(sys.argv[1]), floral.__file__
    X, y = make_moons(300, noise=0.25, random_state=0)
    y = (2 * y - 1).astype(np.int8)
    out = {}
    for name, kw in %r.items():
        r = _core.floral_fit(X, y, np.full(300, 10.0), np.zeros(300), diagnostics=True, **kw)
        d = r.diagnostics
        out[name + "_lam"], out[name + "_yt"], out[name + "_b"] = d.lam, d.yt, r.b
    info = _core.build_info()
    text = io.StringIO()
    floral.show_config(file=text)
    acc = floral.FloralSVC(C=10, gamma=1.0, n_rounds=100, random_state=0).fit(X, y).score(X, y)
    np.savez(sys.argv[2], openmp=info["openmp"], openmp_version=info["openmp_version"],
             max_threads=info["max_threads"], show_config=text.getvalue(), accuracy=acc,
             **out)
    """
)


@pytest.fixture(scope="module")
def serial_results(serial_floral, tmp_path_factory):
    result = tmp_path_factory.mktemp("serial-run") / "serial.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(serial_floral), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run(
        [sys.executable, "-c", SERIAL_SCRIPT % (FIT_SETTINGS,), str(serial_floral), str(result)],
        cwd=serial_floral, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(result) as data:
        return {k: data[k] for k in data.files}


def test_serial_build_reports_openmp_off(serial_results):
    assert serial_results["openmp"].item() is False
    assert serial_results["openmp_version"].item() == 0
    assert serial_results["max_threads"].item() == 1
    text = str(serial_results["show_config"])
    assert "openmp         off: the core was built serially" in text
    assert f"floral {floral.__version__}" in text
    assert serial_results["accuracy"].item() > 0.85  # the estimator works on the serial core


def _openmp_core_or_skip():
    if not _core.build_info()["openmp"]:
        pytest.skip("this session's floral was built without OpenMP: nothing to compare")


def test_serial_build_matches_openmp_build_bitwise_in_incremental_regime(serial_results):
    """With f updated column by column only, no loop reduces in a build-dependent order,
    so the serial core and the OpenMP core give the same bits."""
    _openmp_core_or_skip()
    X, y, C, lam0 = _moons_problem()
    r = _core.floral_fit(X, y, C, lam0, diagnostics=True, **FIT_SETTINGS["incremental"])
    np.testing.assert_array_equal(r.diagnostics.yt, serial_results["incremental_yt"])
    np.testing.assert_array_equal(r.diagnostics.lam, serial_results["incremental_lam"])
    assert r.b == serial_results["incremental_b"].item()


def test_serial_build_matches_openmp_build_to_rounding_in_default_regime(serial_results):
    """Dense passes sum with `omp simd reduction` in the OpenMP build (summation order
    chosen by the vectoriser) and in index order in the serial one, so the two builds may
    differ in the last bits; the attacker's choices and lam agree to rounding."""
    _openmp_core_or_skip()
    X, y, C, lam0 = _moons_problem()
    r = _core.floral_fit(X, y, C, lam0, diagnostics=True, **FIT_SETTINGS["default"])
    np.testing.assert_array_equal(r.diagnostics.yt, serial_results["default_yt"])
    np.testing.assert_allclose(r.diagnostics.lam, serial_results["default_lam"], rtol=0,
                               atol=1e-12)
    assert abs(r.b - serial_results["default_b"].item()) <= 1e-12


# --- show_config and the command line ----------------------------------------------------

def test_show_config_reports_version_openmp_and_threads():
    from floral._config import config_info

    info = config_info()
    assert info["floral"] == floral.__version__
    assert info["openmp"] is _core.build_info()["openmp"]
    text = io.StringIO()
    floral.show_config(file=text)
    out = text.getvalue()
    assert out.startswith(f"floral {floral.__version__}\n")
    assert "openmp" in out and "threads" in out and "compiler" in out
    # the distribution pip installed floral from, by its metadata (None from a bare tree)
    assert info["distribution"] == "floral-svm"
    installed = info["installed_version"]
    assert f"  distribution   floral-svm {installed or '(not installed'}" in out
    if installed is not None:
        assert installed == floral.__version__
    if info["openmp"]:
        assert "openmp         on (OpenMP " in out
    else:
        assert "openmp         off" in out


def _run(args):
    # outside the checkout: with a non-editable install (as .ci/run tests) the checkout's
    # floral/ has no compiled core and would come first on sys.path
    return subprocess.run(args, capture_output=True, text=True, timeout=300,
                          cwd=tempfile.gettempdir())


def test_python_m_floral_version():
    proc = _run([sys.executable, "-m", "floral", "--version"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"floral {floral.__version__}"


def test_floral_show_config_command():
    # the console script installed beside this interpreter (bin/ or Scripts\)
    script = Path(sys.executable).with_name("floral.exe" if os.name == "nt" else "floral")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "floral"]
    proc = _run([*command, "show-config"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"floral {floral.__version__}\n")
    assert "openmp" in proc.stdout


# --- what is installed beside the package ------------------------------------------------

def _stub_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("module", [_lib, _testing], ids=["_lib", "_testing"])
def test_type_stub_matches_compiled_module(module):
    name = module.__name__.rsplit(".", 1)[1]
    stub = Path(module.__file__).with_name(f"{name}.pyi")
    assert stub.is_file(), f"{stub} is not installed"
    assert (Path(floral.__file__).parent / "py.typed").is_file()
    tree = ast.parse(stub.read_text())
    runtime = {n for n, v in vars(module).items()
               if not n.startswith("_") and not inspect.ismodule(v)}
    assert _stub_names(tree) == runtime
    # the public members of its classes too
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in runtime):
        stub_members = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)} - {"__new__"}
        runtime_members = {n for n in dir(getattr(module, cls.name)) if not n.startswith("_")}
        assert stub_members == runtime_members, cls.name


# what only the tests and benchmarks call: the kernel storage and operators as objects,
# the power iteration on its own, the generator's raw stream, the memory-bandwidth probe
TEST_ONLY = {"GramRows", "FeatureRows", "kernel_lambda_max", "rng_uint64", "bandwidth_probe"}


def test_the_shipped_core_exports_no_test_only_name():
    assert TEST_ONLY <= set(dir(_testing))  # the names are real
    assert not TEST_ONLY & set(dir(_lib))
    assert not TEST_ONLY & set(dir(_core))
    # nor does it carry the probe's code (probe.hpp), where symbols are not stripped
    if b"read_pass" in Path(_testing.__file__).read_bytes():
        assert b"read_pass" not in Path(_lib.__file__).read_bytes()
    # and nothing in the package imports the test bindings
    for path in Path(floral.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any("_testing" in n for n in names), path


# What stubtest may find at run time and not in the stub: only names Cython generates and
# the module cannot drop (the cdef classes' pickling hooks, which Cython 3 also binds at
# module level, and the doctest dictionary every Cython module carries).
STUBTEST_ALLOWLIST = """\
floral\\._core\\._(lib|testing)\\.__(reduce|setstate)_cython__
floral\\._core\\._(lib|testing)\\.__test__
"""


def test_type_stub_passes_mypy_stubtest(tmp_path):
    """mypy's stubtest imports the compiled modules (the core and its test bindings) and
    checks every signature, class and constant of their stubs against them (the name-only
    check above does not see a parameter or a type that drifted). From a source checkout
    (an editable install, whose import hook mypy does not see) it runs in the checkout;
    an installed floral mypy finds in site-packages, from any other folder (run there,
    mypy would take site-packages' own top-level modules for the user's)."""
    pytest.importorskip("mypy.stubtest", reason="mypy is not installed (the test extra has it)")
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text(STUBTEST_ALLOWLIST)
    where = Path(floral.__file__).parents[1]
    if not (where / "pyproject.toml").is_file():
        where = tmp_path
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "floral._core._lib", "floral._core._testing",
         "--allowlist", str(allowlist)],
        cwd=Path(floral.__file__).parents[1], capture_output=True, text=True, timeout=300,
        env={**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "mypy-cache")},
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("storage", ["gram", "features", "csr"])
def test_core_result_is_the_declared_contract(storage):
    """floral_fit's result: the typed fields production reads, the test-only ones only on
    request, and the one dict it still holds (the cache counters, kept in fitted models)
    with exactly the keys its TypedDict declares."""
    import dataclasses

    import scipy.sparse as sp

    from floral._core._result import CacheStats, FitDiagnostics, FitResult

    X, y, C, lam0 = _moons_problem()
    X = sp.csr_matrix(X) if storage == "csr" else X
    kw = dict(kernel="linear" if storage != "gram" else "rbf", n_rounds=5, flip_budget=3,
              storage="gram" if storage == "gram" else "features")
    plain = _core.floral_fit(X, y, C, lam0, **kw)
    full = _core.floral_fit(X, y, C, lam0, diagnostics=True, **kw)
    assert type(plain) is FitResult and plain.diagnostics is None
    assert type(full.diagnostics) is FitDiagnostics
    assert set(plain.cache) == set(CacheStats.__annotations__)
    assert plain.cache["storage"] == storage
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.rounds_run = 0
    # asking for the diagnostics changes nothing else
    for field in ("coef", "labels", "b"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(full, field))
    np.testing.assert_array_equal(full.diagnostics.yt, 2 * full.labels - 1)


ONE_RUNTIME_SCRIPT = textwrap.dedent(
    """
    import os
    import numpy as np
    import sklearn.cluster  # loads scikit-learn's OpenMP runtime
    from threadpoolctl import threadpool_info
    import floral

    X = np.random.default_rng(0).normal(size=(120, 40))  # >= 32 features: dgemm + limits
    floral.FloralSVC(n_rounds=5).fit(X, (X[:, 0] > 0).astype(int))
    sklearn.cluster.KMeans(2, n_init=1, random_state=0).fit(X)  # scikit-learn's OpenMP code
    floral.show_config()
    paths = {os.path.realpath(i["filepath"]) for i in threadpool_info()
             if i["user_api"] == "openmp"}
    assert len(paths) == 1, paths
    """
)


@pytest.mark.skipif(sys.platform != "darwin", reason="macOS wheels bundle libomp")
def test_macos_wheel_shares_one_libomp_with_scikit_learn():
    """Two libomp copies in one process abort it ("OMP: Error #15") once both initialise;
    the macOS wheel loads scikit-learn's copy when there is one
    (tools/wheels/macos_share_libomp.py). Run in a subprocess so an abort is a failure."""
    if not (Path(floral.__file__).parent / ".dylibs").is_dir():
        pytest.skip("not a delocated macOS wheel (a source build links libomp directly)")
    _openmp_core_or_skip()
    proc = _run([sys.executable, "-c", ONE_RUNTIME_SCRIPT])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
