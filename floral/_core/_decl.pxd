"""Cython declarations of floral's C++ core (the .hpp files beside this one), shared by
the shipped bindings (_lib.pyx) and the test bindings (_testing.pyx)."""
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.vector cimport vector

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1
    # the same, leaving a raised exception pending for the C++ caller (see _interrupt_check)
    int _check_signals_pending "PyErr_CheckSignals"()

cdef extern from "common.hpp" namespace "floral":
    ctypedef int64_t index_t
    ctypedef void (*dgemm_fn)(char*, char*, int*, int*, int*, double*, double*, int*,
                              double*, int*, double*, double*, int*) noexcept nogil
    cbool openmp_enabled()
    int openmp_version()
    int max_threads()
    const char* compiler_version()
    int resolve_threads(int)
    cbool simd_target_supported(int)
    ctypedef cbool (*interrupt_check_fn)() noexcept
    interrupt_check_fn g_interrupt_check
    int simd_target()
    cbool set_simd_target(int)

cdef extern from "rng.hpp" namespace "floral":
    cdef cppclass Rng:
        Rng(uint64_t seed)
        uint64_t next() nogil

cdef extern from "attacker.hpp" namespace "floral":
    void c_sample_among "floral::sample_among"(index_t* cand, index_t size, index_t k,
                                               uint64_t seed) nogil

cdef extern from "select.hpp" namespace "floral":
    void topk_above(const double* v, index_t n, index_t k, double threshold,
                    vector[index_t]& out) except + nogil

cdef extern from "projection.hpp" namespace "floral":
    cdef cppclass ProjectionWorkspace:
        ProjectionWorkspace()
    double project_box_hyperplane(const double* v, const int8_t* a, const double* l,
                                  const double* u, index_t n, double* x,
                                  ProjectionWorkspace& ws) except + nogil
    double project_box_hyperplane_weighted(const double* v, const int8_t* a, const double* l,
                                           const double* u, const double* d, index_t n,
                                           double* x, ProjectionWorkspace& ws) except + nogil

cdef extern from "kernel.hpp" namespace "floral":
    const index_t c_GEMM_MIN_FEATURES "floral::GEMM_MIN_FEATURES"
    cdef cppclass KernelSpec:
        KernelSpec()
        int type
        double gamma
        double coef0
        int degree

cdef extern from "gram_cache.hpp" namespace "floral":
    cdef cppclass CacheStats:
        index_t hits, misses, rows_computed
    index_t gram_row_offset "floral::GramCache::row_offset"(index_t i)
    cdef cppclass GramCache:
        GramCache(const double* X, index_t n, index_t d, KernelSpec spec, double budget_bytes,
                  int n_threads, dgemm_fn gemm) except + nogil
        cbool materialised()
        cbool is_packed()
        cbool square()
        index_t capacity()
        index_t wave_rows()
        index_t row_slots()
        const CacheStats& stats()
        const float* packed()
        int max_threads() nogil
        void set_threads(int t) nogil
        void full_row(index_t i, float* out) nogil
        void fetch(const index_t* rows, index_t count, const float** out) except + nogil

cdef extern from "operator.hpp" namespace "floral":
    cdef cppclass GramOperator:
        GramOperator(GramCache& cache) except +
        void matvec(const double* c, double* out) except + nogil
        void add_columns(const index_t* cols, const double* delta, index_t m,
                         double* f) except + nogil

cdef extern from "features.hpp" namespace "floral":
    cdef cppclass BasicFeatureOperator[T]:
        BasicFeatureOperator(const T* X, index_t n, index_t d, const T* Xt, index_t m,
                             int n_threads) except + nogil
        const double* w()
        void matvec(const double* c, double* out) except + nogil
        void add_columns(const index_t* cols, const double* delta, index_t k,
                         double* f) except + nogil

cdef extern from "evaluation.hpp" namespace "floral":
    cdef cppclass CrossKernel:
        CrossKernel(const double* X, index_t n, const double* Xv, index_t m, index_t d,
                    KernelSpec spec, cbool store, int n_threads, dgemm_fn gemm) except + nogil
        cbool stored()

cdef extern from "governor.hpp" namespace "floral":
    index_t GOVERNED_MIN_WORK

cdef extern from "rounds.hpp" namespace "floral":
    cdef cppclass LoopHistory:
        vector[double] objective, mu, eta, seconds, accuracy, balanced_accuracy
        vector[index_t] n_sv, n_free, n_changed, ascent, n_bound
    cdef cppclass RoundModel:
        vector[double] coef
        vector[double] b
        vector[int32_t] labels
        index_t round
        double score
    cdef cppclass LoopResult:
        RoundModel last, average
        vector[double] lam
        index_t n_averaged
        vector[index_t] flip_count
        vector[RoundModel] best
        cbool stopped
        index_t rounds_run, dense_passes
        LoopHistory history
        vector[double] f, f_eval

cdef extern from "floral_loop.hpp" namespace "floral":
    int CB_STOP, CB_HEARTBEAT
    ctypedef int (*round_callback)(void* ctx, int reason, index_t round, double objective,
                                   double accuracy) noexcept
    cdef cppclass LoopParams:
        index_t n_rounds
        double learning_rate, lr_decay
        index_t lr_decay_every, flip_budget
        double candidate_factor
        index_t refresh
        double tol
        index_t eval_every
        uint64_t seed
        double dense_fraction, heartbeat
        index_t average_from, n_best
        cbool balanced
        const double* eval_weight
        cbool adaptive_threads
        const double* scale
    void run_floral_gram(GramCache& cache, CrossKernel* ev, const int32_t* y_eval,
                         const int32_t* y, index_t n_classes, const double* C,
                         const double* lam0, const index_t* class_cap, const LoopParams& p,
                         round_callback cb, void* ctx, LoopResult& res) except + nogil
    double gram_lambda_max(GramCache& cache, index_t max_iter, double rtol,
                           index_t* iterations, const double* scale) except + nogil
    void run_floral_features[T](BasicFeatureOperator[T]& op, BasicFeatureOperator[T]* ev,
                                const int32_t* y_eval, const int32_t* y, index_t n_classes,
                                const double* C, const double* lam0, const index_t* class_cap,
                                const LoopParams& p, round_callback cb, void* ctx,
                                LoopResult& res) except + nogil
    double features_lambda_max[T](BasicFeatureOperator[T]& op, index_t max_iter, double rtol,
                                  index_t* iterations, const double* scale) except + nogil

cdef extern from "sparse_features.hpp" namespace "floral":
    cdef cppclass BasicCsrFeatureOperator[T, I]:
        BasicCsrFeatureOperator(const T* data, const I* indices, const I* indptr, index_t n,
                                index_t d, const T* t_data, const I* t_indices,
                                const I* t_indptr, index_t m, int n_threads) except + nogil
        const double* w()
        void share_from(BasicCsrFeatureOperator[T, I]* src) nogil
    void run_floral_csr[T, I](BasicCsrFeatureOperator[T, I]& op,
                              BasicCsrFeatureOperator[T, I]* ev, const int32_t* y_eval,
                              const int32_t* y, index_t n_classes, const double* C,
                              const double* lam0, const index_t* class_cap,
                              const LoopParams& p, round_callback cb, void* ctx,
                              LoopResult& res) except + nogil
    double csr_lambda_max[T, I](BasicCsrFeatureOperator[T, I]& op, index_t max_iter,
                                double rtol, index_t* iterations,
                                const double* scale) except + nogil

cdef extern from "decision.hpp" namespace "floral":
    void c_decision_function "floral::decision_function"(
        const double* Xt, index_t m, const double* SV, index_t n_sv, index_t d,
        const double* coef, const double* b, index_t n_out, KernelSpec spec, int n_threads,
        dgemm_fn gemm, double* out) except + nogil
