#ifndef CBASE64_H
#define CBASE64_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The ways of encoding and decoding: plain C, AVX2, or AVX-512 (VBMI). Each entry point takes one
/// that `autodiffd_base64_supports` accepts; all accept and produce exactly the same texts.
enum {
    AUTODIFFD_BASE64_SCALAR = 0,
    AUTODIFFD_BASE64_AVX2 = 1,
    AUTODIFFD_BASE64_AVX512 = 2,
};

/// Whether this CPU (and this build) runs `implementation`.
int autodiffd_base64_supports(int implementation);

/// Writes the padded RFC 4648 base64 of the `length` bytes at `input` to `output`, which holds at
/// least `(length + 2) / 3 * 4` bytes; returns how many it wrote (exactly that). `implementation`
/// must be one `autodiffd_base64_supports` accepts.
size_t autodiffd_base64_encode(const uint8_t *input, size_t length, uint8_t *output, int implementation);

/// Decodes `length` characters (a multiple of 4) whose last `padding` (0, 1 or 2) are `=` into
/// `length / 4 * 3 - padding` bytes at `output`. Returns 1 when every character before the padding
/// is in the RFC 4648 alphabet, 0 otherwise (`output` then holds garbage). The unused low bits of a
/// padded final group are not checked.
int autodiffd_base64_decode(
    const uint8_t *input, size_t length, size_t padding, uint8_t *output, int implementation);

/// How many of the `length` bytes at `text` are, from the start, base64 characters (the alphabet
/// and `=`): where base64 text ends.
size_t autodiffd_base64_span(const uint8_t *text, size_t length, int implementation);

#ifdef __cplusplus
}
#endif

#endif
