#ifndef AUTODIFF_CBLAS_SHIM_H
#define AUTODIFF_CBLAS_SHIM_H

/// Loads OpenBLAS at run time, once, after choosing its kernel from the CPU's own feature flags.
///
/// Debian's OpenBLAS (DYNAMIC_ARCH) picks its kernel in its library constructor from
/// OPENBLAS_CORETYPE or its own CPU detection, which mis-detects some newer or virtual CPUs as
/// Prescott (a fifth of the speed). Loading the library with dlopen() lets this shim set
/// OPENBLAS_CORETYPE (unless the operator did) and OPENBLAS_NUM_THREADS=1 (unless the operator
/// did) before that constructor runs. Safe to call from several threads; only the first call loads.
/// Returns 1 when the library and its functions were found, 0 otherwise.
int autodiff_blas_load(void);

/// The kernel OpenBLAS reports using (openblas_get_corename), or NULL when not loaded.
const char *autodiff_blas_core(void);

/// Where the core came from: "cpuid", "OPENBLAS_CORETYPE" (operator) or "OpenBLAS detection".
const char *autodiff_blas_core_source(void);

/// The file loaded, or why nothing was (dlerror text), for the start-up log.
const char *autodiff_blas_detail(void);

/// C = op(A) · op(B) for row-major A, B, C (alpha 1, beta 0). Only after autodiff_blas_load() returned 1.
void autodiff_blas_dgemm(
    int transpose_a, int transpose_b, int m, int n, int k,
    const double *a, int lda, const double *b, int ldb, double *c, int ldc);

/// sines[i] = sin(x[i]) and cosines[i] = cos(x[i]) for i < count, through glibc's sincos (a GNU
/// extension Swift's Glibc module does not export), which computes both with the code of sin and
/// cos and so gives exactly their values, in less time than the two calls. Elsewhere: sin and cos.
void autodiff_sincos(const double *x, double *sines, double *cosines, long count);

#endif
