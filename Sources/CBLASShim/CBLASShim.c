#define _GNU_SOURCE
#include "CBLASShim.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

// CBLAS's enum values (cblas.h): the library is reached through dlsym, so its header is not needed.
enum { row_major = 101, no_trans = 111, trans = 112 };

typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                         double *, int);
typedef char *(*corename_fn)(void);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static dgemm_fn dgemm;
static const char *core;
static const char *core_source = "OpenBLAS detection";
static char detail[512] = "not loaded";

/// The OpenBLAS core name for this CPU's feature flags, or NULL to leave the choice to OpenBLAS.
/// AVX-512 counts only when the OS saves its registers (XCR0 opmask, ZMM_Hi256 and Hi16_ZMM).
static const char *core_from_cpuid(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return NULL;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return NULL;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    int ymm_saved = (xcr0_lo & 0x6) == 0x6, zmm_saved = (xcr0_lo & 0xe6) == 0xe6;
    if (__get_cpuid_max(0, NULL) < 7) return NULL;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 28) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    int bf16 = (a1 >> 5) & 1;
    if (avx512 && zmm_saved) return bf16 ? "Cooperlake" : "SkylakeX";
    if (avx2 && fma && ymm_saved) return "Haswell";
#endif
    return NULL;
}

static void load(void) {
    const char *requested = getenv("OPENBLAS_CORETYPE");
    if (requested && *requested) {
        core_source = "OPENBLAS_CORETYPE";
    } else {
        const char *chosen = core_from_cpuid();
        if (chosen) {
            setenv("OPENBLAS_CORETYPE", chosen, 1);
            core_source = "cpuid";
        }
    }
    // The worker pool owns the cores: one thread per call unless the operator says otherwise.
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    const char *names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"};
    void *handle = NULL;
    const char *loaded = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !handle; i++) {
        handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (handle) loaded = names[i];
    }
    if (!handle) {
        const char *error = dlerror();
        snprintf(detail, sizeof detail, "%s", error ? error : "libopenblas not found");
        return;
    }
    dgemm_fn found = (dgemm_fn)dlsym(handle, "cblas_dgemm");
    corename_fn corename = (corename_fn)dlsym(handle, "openblas_get_corename");
    if (!found) {
        snprintf(detail, sizeof detail, "%s has no cblas_dgemm", loaded);
        return;
    }
    core = corename ? corename() : "unknown";
    snprintf(detail, sizeof detail, "%s", loaded);
    dgemm = found;
}

int autodiff_blas_load(void) {
    pthread_once(&once, load);
    return dgemm != NULL;
}

const char *autodiff_blas_core(void) { return autodiff_blas_load() ? core : NULL; }

const char *autodiff_blas_core_source(void) {
    autodiff_blas_load();
    return core_source;
}

const char *autodiff_blas_detail(void) {
    autodiff_blas_load();
    return detail;
}

void autodiff_blas_dgemm(int transpose_a, int transpose_b, int m, int n, int k, const double *a, int lda,
                         const double *b, int ldb, double *c, int ldc) {
    dgemm(row_major, transpose_a ? trans : no_trans, transpose_b ? trans : no_trans, m, n, k, 1.0, a, lda, b, ldb,
          0.0, c, ldc);
}

void autodiff_sincos(const double *x, double *sines, double *cosines, long count) {
    for (long i = 0; i < count; i++) {
#if defined(__GLIBC__)
        sincos(x[i], sines + i, cosines + i);
#else
        sines[i] = sin(x[i]);
        cosines[i] = cos(x[i]);
#endif
    }
}
