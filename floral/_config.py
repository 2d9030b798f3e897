"""Build and runtime facts for bug reports, like numpy.show_config()."""
import platform
import sys
from importlib import metadata

from sklearn.utils._param_validation import HasMethods, validate_params

from ._version import __version__

__all__ = ["show_config", "config_info"]

# The name pip knows floral by. "floral" on PyPI is an unrelated project, so a report has to
# say which distribution provided the `floral` package that was imported.
DISTRIBUTION = "floral-svm"


def _installed_version():
    """The version pip recorded for floral-svm, or None (running from a source tree that
    was never installed). It differs from __version__ when an install is stale."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def _openmp_runtimes():
    """OpenMP libraries loaded in this process, as threadpoolctl sees them.

    Several can be loaded at once (scikit-learn's wheels bundle their own libgomp), so all
    are listed: a clash between them is exactly what a bug report needs to show.
    """
    from threadpoolctl import threadpool_info

    return [
        {"library": info.get("prefix"), "path": info.get("filepath"),
         "version": info.get("version"), "threads": info.get("num_threads")}
        for info in threadpool_info() if info.get("user_api") == "openmp"
    ]


def config_info():
    """The facts `show_config` prints, as a dict."""
    import numpy
    import scipy
    import sklearn

    from ._core import (
        CPU_TARGET_VARIABLE,
        GEMM_MIN_FEATURES,
        PINNED_SIMD_TARGET,
        build_info,
        simd_info,
    )

    core = build_info()
    simd_active, simd_supported = simd_info()
    runtime = _openmp_runtimes() if core["openmp"] else []
    return {
        "floral": __version__,
        "distribution": DISTRIBUTION,
        "installed_version": _installed_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "compiler": core["compiler"],
        "openmp": core["openmp"],
        "openmp_version": core["openmp_version"] or None,
        "openmp_runtimes": runtime,
        "threads": core["max_threads"],
        "simd_target": simd_active,
        "simd_pinned": PINNED_SIMD_TARGET is not None,
        "simd_supported": list(simd_supported),
        "simd_variable": CPU_TARGET_VARIABLE,
        "gemm_min_features": GEMM_MIN_FEATURES,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }


@validate_params({"file": [HasMethods("write"), None]}, prefer_skip_nested_validation=True)
def show_config(file=None):
    """Print floral's version, how its core was built and what it runs with.

    The compiled core needs no BLAS of its own: kernel rows of wide inputs go through the
    dgemm that SciPy ships (``scipy.linalg.cython_blas``).
    """
    info = config_info()
    out = file or sys.stdout
    installed = info["installed_version"]
    lines = [
        f"floral {info['floral']}",
        f"  distribution   {info['distribution']} "
        + (installed if installed else "(not installed: imported from a source tree)"),
        f"  python         {info['python']} ({info['platform']})",
        f"  compiler       {info['compiler']}",
        "  openmp         " + (f"on (OpenMP {info['openmp_version']})" if info["openmp"]
                              else "off: the core was built serially"),
    ]
    for rt in info["openmp_runtimes"]:
        version = f" {rt['version']}" if rt["version"] else ""
        lines.append(f"  openmp runtime {rt['library']}{version} ({rt['path']})")
    lines += [
        f"  threads        {info['threads']} (n_jobs=None uses this many)",
        f"  simd target    {info['simd_target']} ("
        + (f"pinned by {info['simd_variable']}" if info["simd_pinned"]
           else f"the best this CPU runs; {info['simd_variable']} pins another")
        + "); this CPU runs: " + ", ".join(info["simd_supported"]),
        "  blas           none of its own; dgemm from SciPy for inputs with >= "
        f"{info['gemm_min_features']} features",
        f"  numpy {info['numpy']}, scipy {info['scipy']}, scikit-learn {info['scikit-learn']}",
    ]
    print("\n".join(lines), file=out)
