"""Build script for floral's compiled core.

All package metadata lives in pyproject.toml; this file only describes the extensions
``floral._core._lib`` (the bindings the package uses) and ``floral._core._testing`` (test
bindings: storage and operator objects, the bandwidth probe) and picks OpenMP flags for the
compiler actually in use. When the
compiler cannot build an OpenMP program the extension is still built, serially, and
``floral.show_config()`` reports it (the C++ code keys off ``_OPENMP``).
"""
import os
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """Return (compile_args, link_args) that give OpenMP, or None when unavailable."""
    if os.environ.get("FLORAL_DISABLE_OPENMP", "0") not in ("", "0"):
        return None
    ctype = compiler.compiler_type
    if ctype == "msvc":
        # MSVC ships OpenMP 2.0 (vcomp); enough for parallel-for and simd-less loops.
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        # Apple clang has no -fopenmp driver flag; libomp (Homebrew / the wheel build step)
        # is used through the preprocessor and linked explicitly.
        prefix = os.environ.get("FLORAL_LIBOMP_PREFIX", "")
        inc = [f"-I{prefix}/include"] if prefix else []
        lib = [f"-L{prefix}/lib"] if prefix else []
        candidates = [
            (["-Xpreprocessor", "-fopenmp", *inc], [*lib, "-lomp"]),
            (["-fopenmp"], ["-fopenmp"]),
        ]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as fh:
            fh.write(OMP_TEST)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(
                    objs, "omp_test", output_dir=tmp, extra_postargs=lflags
                )
            except Exception:  # any compile/link failure means "not this flag set"
                continue
            return cflags, lflags
    return None


class BuildExt(build_ext):
    def build_extensions(self):
        ctype = self.compiler.compiler_type
        if ctype == "msvc":
            base = ["/std:c++17", "/O2", "/EHsc"]
        else:
            # fp-contract lets the AVX2+FMA clones of the hot loops fuse multiply-adds
            base = ["-std=c++17", "-O3", "-fno-math-errno", "-ffp-contract=fast"]
            if os.environ.get("FLORAL_DEBUG", "0") not in ("", "0"):
                # bounds assertions in the C++ core (see FLORAL_ASSERT in common.hpp)
                base = ["-std=c++17", "-O1", "-g", "-UNDEBUG", "-DFLORAL_DEBUG=1"]
        san = []
        if os.environ.get("FLORAL_SANITIZE", "0") not in ("", "0") and ctype != "msvc":
            # tools/sanitize.sh: ASan + UBSan, every report fatal; -O1 keeps the stack traces
            # readable. The interpreter is not instrumented, so the ASan runtime must be
            # LD_PRELOADed when this build is imported. gcc's "undefined" group leaves out
            # float-cast-overflow (a double out of an integer type's range cast to it), so
            # it is named on its own; and gcc folds (int64_t)std::ceil(x) into a builtin
            # lceil that the check does not see (candidate_factor * k, attacker.hpp), so
            # the rounding functions stay calls.
            san = ["-fsanitize=address,undefined,float-cast-overflow",
                   "-fno-sanitize-recover=all"]
            base += ["-fno-builtin-ceil", "-fno-builtin-floor", "-fno-builtin-round",
                     "-fno-builtin-trunc"]
            base = [f for f in base if not f.startswith("-O")]
            base += ["-O1", "-g", "-fno-omit-frame-pointer", *san]
        omp = _openmp_flags(self.compiler)
        if omp is None:
            print("floral: OpenMP not available; building the core serially", file=sys.stderr)
            cflags, lflags = [], []
        else:
            cflags, lflags = omp
        for ext in self.extensions:
            ext.extra_compile_args = base + cflags
            ext.extra_link_args = list(lflags) + san
        super().build_extensions()


extensions = [
    Extension(
        f"floral._core.{name}",
        sources=[f"floral/_core/{name}.pyx"],
        include_dirs=[np.get_include(), "floral/_core"],
        depends=[
            os.path.join("floral", "_core", header)
            for header in os.listdir(os.path.join("floral", "_core"))
            if header.endswith((".hpp", ".pxd"))
        ],
        language="c++",
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
    for name in ("_lib", "_testing")
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
