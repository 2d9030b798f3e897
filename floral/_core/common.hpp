// Shared definitions for floral's compiled core.
//
// Everything here runs without the GIL. Parallel loops are written so that every output
// element is computed by one thread in an order that does not depend on the thread count;
// that is what makes results bitwise identical for any n_jobs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(FLORAL_DEBUG)
#define FLORAL_ASSERT(cond)                                                              \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            std::fprintf(stderr, "floral core assertion failed: %s (%s:%d)\n", #cond,    \
                         __FILE__, __LINE__);                                            \
            std::abort();                                                                \
        }                                                                                \
    } while (0)
#else
#define FLORAL_ASSERT(cond) ((void)0)
#endif

// MSVC implements OpenMP 2.0 only: no `simd` construct and signed loop indices required.
#if defined(_OPENMP) && !defined(_MSC_VER)
#define FLORAL_PRAGMA(x) _Pragma(#x)
#define FLORAL_SIMD_REDUCTION(var) FLORAL_PRAGMA(omp simd reduction(+ : var))
#define FLORAL_SIMD_REDUCTION8(a, b, c, d, e, f, g, h) \
    FLORAL_PRAGMA(omp simd reduction(+ : a, b, c, d, e, f, g, h))
#else
#define FLORAL_SIMD_REDUCTION(var)
#define FLORAL_SIMD_REDUCTION8(a, b, c, d, e, f, g, h)
#endif

// Hot kernels get AVX-512 and AVX2+FMA clones chosen at load time (GNU ifunc) where that
// exists: gcc >= 12 on x86-64 glibc. Elsewhere (musl, macOS, MSVC, aarch64) the portable
// build runs. Every thread calls the same clone, so results stay identical across thread
// counts. Clones are keyed on ISA levels (x86-64-v4: AVX-512F/BW/DQ/VL; v3: AVX2, FMA),
// not on CPU models: "arch=haswell" dispatches on the model and is never picked on AMD
// processors. The v4 clone makes the cache-resident dense round ~20% faster on an AVX-512
// Xeon (bench/README.md): the float32->float64 conversions and FMAs bound it there.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && \
    defined(__GLIBC__) && !defined(FLORAL_NO_CLONES)
#define FLORAL_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FLORAL_HOT
#endif

// Keeps a function out of line where the build has no clones: the two Gram storages must
// run the very same machine code for their floating-point work (matvec.hpp), and two
// inlined copies may be contracted into FMAs differently.
#if defined(_MSC_VER)
#define FLORAL_NOINLINE __declspec(noinline)
#elif defined(__GNUC__) || defined(__clang__)
#define FLORAL_NOINLINE __attribute__((noinline))
#else
#define FLORAL_NOINLINE
#endif

namespace floral {

using index_t = std::int64_t;

// Work (elements touched) below which a loop runs on the calling thread alone. Starting a
// parallel region costs microseconds, and when another process holds a core it can cost a
// scheduler time slice: a round at n = 500 would wait on it several times.
constexpr index_t PARALLEL_MIN_WORK = index_t(1) << 18;

inline int resolve_threads(int n_threads) {
#ifdef _OPENMP
    return n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    (void)n_threads;
    return 1;
#endif
}

inline int thread_num() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

inline bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

inline int openmp_version() {
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline const char* compiler_version() {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
#define FLORAL_STR2(x) #x
#define FLORAL_STR(x) FLORAL_STR2(x)
    return "msvc " FLORAL_STR(_MSC_FULL_VER);
#else
    return "unknown";
#endif
}

// Fortran BLAS dgemm, as scipy.linalg.cython_blas exports it.
typedef void (*dgemm_fn)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                         double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                         int* ldc);

}  // namespace floral
