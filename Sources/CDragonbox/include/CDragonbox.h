#ifndef CDRAGONBOX_H
#define CDRAGONBOX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The bytes `autodiffd_format_double` needs at `output`: the text is at most 24 bytes
/// (`-1.2345678901234567e-308`), and the bytes after it, up to this many, are scratch it may
/// overwrite (its copies have fixed sizes).
#define AUTODIFFD_DOUBLE_TEXT_MAX 40

/// Writes the finite `value` as Swift's `Double.description` does, into `output` (at least
/// AUTODIFFD_DOUBLE_TEXT_MAX bytes, not NUL-terminated), and returns how many bytes of text it wrote.
///
/// The digits are the shortest that read back to `value` (Debian's Dragonbox), formatted as Swift:
/// `0.0` and `-0.0`; decimal notation with at least one fractional digit (`100.0`, `0.0001`) when
/// 1e-4 <= |value| <= 2^53; otherwise `d.ddde±XX` with at least two exponent digits (`1e-05`,
/// `1.2345e+16`). Non-finite values are the caller's to write.
size_t autodiffd_format_double(double value, char *output);

/// The most bytes `autodiffd_format_doubles` writes per value (24 for the longest number, 1 for a comma).
#define AUTODIFFD_DOUBLE_LIST_BYTES_PER_VALUE 25

/// Writes `count` values separated by commas (no brackets, no spaces) into `output`, which holds at
/// least count * AUTODIFFD_DOUBLE_LIST_BYTES_PER_VALUE + AUTODIFFD_DOUBLE_TEXT_MAX bytes (the last
/// number's scratch included): finite values as `autodiffd_format_double`,
/// NaN and the infinities as the JSON strings "NaN", "Infinity" and "-Infinity". Returns the bytes written.
size_t autodiffd_format_doubles(const double *values, size_t count, char *output);

#ifdef __cplusplus
}
#endif

#endif
