#ifndef CFASTFLOAT_H
#define CFASTFLOAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Reads the decimal number in [first, first + length) to the nearest float64 (round half to even,
/// as strtod), using Debian's fast_float (Eisel-Lemire with an exact big-decimal fallback).
/// Returns how many bytes it read; 0 when the text does not start with a number. A number too large
/// for float64 reads as an infinity, one too small as 0 or a subnormal, as strtod.
size_t autodiffd_parse_double(const char *first, size_t length, double *value);

/// Sets `*value` to the float64 nearest ±`mantissa` × 10^`exponent` (round half to even) and
/// returns true, for a `mantissa` that holds every digit of the number (at most 19), as fast_float
/// does once it has read the text: Clinger's exact path when it applies, else Eisel-Lemire.
/// Returns false, leaving `*value` alone, in the rare case Eisel-Lemire cannot decide: then read
/// the text with `autodiffd_parse_double`. Out of range is an infinity or 0, as strtod.
bool autodiffd_decimal_to_double(uint64_t mantissa, int64_t exponent, bool negative, double *value);

#ifdef __cplusplus
}
#endif

#endif
