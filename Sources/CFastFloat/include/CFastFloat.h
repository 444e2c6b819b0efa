#ifndef CFASTFLOAT_H
#define CFASTFLOAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Reads the decimal number in [first, first + length) to the nearest float64 (round half to even,
/// as strtod), using Debian's fast_float (Eisel-Lemire with an exact big-decimal fallback).
/// Returns how many bytes it read; 0 when the text does not start with a number. A number too large
/// for float64 reads as an infinity, one too small as 0 or a subnormal, as strtod.
size_t autodiffd_parse_double(const char *first, size_t length, double *value);

#ifdef __cplusplus
}
#endif

#endif
