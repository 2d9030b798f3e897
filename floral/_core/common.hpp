// Shared definitions for floral's compiled core.
//
// Everything here runs without the GIL. Parallel loops are written so that every output
// element is computed by one thread in an order that does not depend on the thread count;
// that is what makes results bitwise identical for any n_jobs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

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

// Hot kernels get AVX-512 and AVX2+FMA versions where gcc >= 12 builds for x86-64 glibc.
// Elsewhere (musl, macOS, MSVC, aarch64) the portable build runs. Every thread calls the
// same version, so results stay identical across thread counts. Versions are keyed on ISA
// levels (x86-64-v4: AVX-512F/BW/CD/DQ/VL; v3: AVX2, FMA), not on CPU models:
// "arch=haswell" dispatches on the model and is never picked on AMD processors. The v4
// version makes the cache-resident dense round ~20% faster on an AVX-512 Xeon
// (bench/README.md): the float32->float64 conversions and FMAs bound it there.
//
// The dispatch is ours rather than gcc's target_clones (an ifunc resolved at load time,
// which nothing can steer): the version that runs is simd_target(), the best this CPU
// executes unless set_simd_target() pinned another (floral/_core/__init__.py does, from
// the FLORAL_CPU_TARGET environment variable), so the tests can run every version on one
// machine. A hot kernel is written once as NAME_body (FLORAL_HOT_BODY: always inlined, so
// it is compiled with the ISA of the function it lands in); FLORAL_DISPATCH(NAME, ...)
// defines one out-of-line copy per target and NAME(...), which calls the selected one.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && \
    defined(__GLIBC__) && !defined(FLORAL_NO_CLONES)
#define FLORAL_HAS_SIMD_TARGETS 1
#endif

// Only the bandwidth probe (probe.hpp, in the test bindings) still uses load-time clones.
#if defined(FLORAL_HAS_SIMD_TARGETS)
#define FLORAL_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FLORAL_HOT
#endif

#if defined(_MSC_VER)
#define FLORAL_HOT_BODY __forceinline
#elif defined(__GNUC__) || defined(__clang__)
#define FLORAL_HOT_BODY __attribute__((always_inline)) inline
#else
#define FLORAL_HOT_BODY inline
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

// SIMD targets of the hot kernels, in increasing order (see FLORAL_HOT_BODY above).
enum SimdTarget : int { SIMD_BASELINE = 0, SIMD_AVX2 = 1, SIMD_AVX512 = 2 };

// Whether this CPU (and build) can execute `target`.
inline bool simd_target_supported(int target) {
#if defined(FLORAL_HAS_SIMD_TARGETS)
    __builtin_cpu_init();
    switch (target) {
        case SIMD_BASELINE: return true;
        case SIMD_AVX2: return __builtin_cpu_supports("x86-64-v3");
        case SIMD_AVX512: return __builtin_cpu_supports("x86-64-v4");
        default: return false;
    }
#else
    return target == SIMD_BASELINE;
#endif
}

inline int best_simd_target() {
    for (int t = SIMD_AVX512; t > SIMD_BASELINE; --t)
        if (simd_target_supported(t)) return t;
    return SIMD_BASELINE;
}

// One for the whole process, set before any kernel runs (a module's import): every
// thread and every call reads the same value, so the thread-count and storage
// invariances hold for whichever target is selected.
inline int g_simd_target = best_simd_target();

inline int simd_target() { return g_simd_target; }

// False (and nothing changed) when the CPU cannot execute `target`.
inline bool set_simd_target(int target) {
    if (!simd_target_supported(target)) return false;
    g_simd_target = target;
    return true;
}

#if defined(FLORAL_HAS_SIMD_TARGETS)
#define FLORAL_DISPATCH_IMPL(TEMPLATE, name, params, args)                               \
    TEMPLATE __attribute__((target("arch=x86-64-v4"), noinline)) inline void             \
        name##_avx512 params { name##_body args; }                                       \
    TEMPLATE __attribute__((target("arch=x86-64-v3"), noinline)) inline void             \
        name##_avx2 params { name##_body args; }                                         \
    TEMPLATE __attribute__((noinline)) inline void name##_baseline params {              \
        name##_body args;                                                                \
    }                                                                                    \
    TEMPLATE inline void name params {                                                   \
        switch (::floral::g_simd_target) {                                               \
            case ::floral::SIMD_AVX512: name##_avx512 args; return;                      \
            case ::floral::SIMD_AVX2: name##_avx2 args; return;                          \
            default: name##_baseline args; return;                                       \
        }                                                                                \
    }
#else
// one version; still out of line (see FLORAL_NOINLINE)
#define FLORAL_DISPATCH_IMPL(TEMPLATE, name, params, args) \
    TEMPLATE FLORAL_NOINLINE inline void name params { name##_body args; }
#endif
#define FLORAL_EMPTY
// FLORAL_DISPATCH(name, (parameters), (arguments)) for void NAME_body(parameters)
#define FLORAL_DISPATCH(name, params, args) FLORAL_DISPATCH_IMPL(FLORAL_EMPTY, name, params, args)
// the same for a function template over one type T
#define FLORAL_DISPATCH_T(name, params, args) \
    FLORAL_DISPATCH_IMPL(template <typename T>, name, params, args)
// the same for a function template over a value type T and an index type I (a macro
// argument cannot hold the comma, so the template head is a macro of its own)
#define FLORAL_TEMPLATE_T_I template <typename T, typename I>
#define FLORAL_DISPATCH_T_I(name, params, args) \
    FLORAL_DISPATCH_IMPL(FLORAL_TEMPLATE_T_I, name, params, args)

// Work (elements touched) below which a loop runs on the calling thread alone. Starting a
// parallel region costs microseconds, and when another process holds a core it can cost a
// scheduler time slice: a round at n = 500 would wait on it several times.
constexpr index_t PARALLEL_MIN_WORK = index_t(1) << 18;

// Ctrl-C during long work outside the round loop (building the kernel storage, the power
// iteration), which has no callback of its own. The bindings set g_interrupt_check: it
// takes the GIL, runs Python's signal handlers and returns true when one raised (the
// exception is then pending in Python). InterruptPoll calls it at most every 0.1 s, and
// only from the thread that created the poll (the one Python called in on, where signals
// are handled); inside a parallel region that thread raises stop() and every thread skips
// its remaining tasks. The caller throws Interrupted after the region, which the bindings
// turn into the pending KeyboardInterrupt.
using interrupt_check_fn = bool (*)();
inline interrupt_check_fn g_interrupt_check = nullptr;

struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("floral: interrupted") {}
};

class InterruptPoll {
  public:
    InterruptPoll()
        : owner_(std::this_thread::get_id()), next_(std::chrono::steady_clock::now()) {}
    // True once an interrupt was seen; cheap on every call.
    bool poll() {
        if (stop_.load(std::memory_order_relaxed)) return true;
        if (g_interrupt_check == nullptr || std::this_thread::get_id() != owner_) return false;
        const auto now = std::chrono::steady_clock::now();
        if (now < next_) return false;
        next_ = now + std::chrono::milliseconds(100);
        if (!g_interrupt_check()) return false;
        stop_.store(true, std::memory_order_relaxed);
        return true;
    }
    bool stopped() const { return stop_.load(std::memory_order_relaxed); }
    void throw_if_stopped() const {
        if (stopped()) throw Interrupted();
    }

  private:
    std::thread::id owner_;
    std::chrono::steady_clock::time_point next_;
    std::atomic<bool> stop_{false};
};

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
