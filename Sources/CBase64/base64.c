// RFC 4648 base64 encoding and decoding, in plain C and, chosen at run time from the CPU's features,
// with AVX2 or AVX-512 VBMI. The vector methods are Wojciech Muła's and Daniel Lemire's ("Faster
// Base64 Encoding and Decoding Using AVX2 Instructions", 2018; "Base64 encoding and decoding at
// almost the speed of a memory copy", 2019). The vector loops take the long middle of a text; the
// scalar code finishes it, so every implementation accepts exactly the same texts.
#include "CBase64.h"

#include <string.h>

static const uint8_t alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The value of each base64 character, 0xFF (bit 7 set) for any other byte.
static const uint8_t sextets[256] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x3E, 0xFF, 0xFF, 0xFF, 0x3F,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E,
    0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x30, 0x31, 0x32, 0x33, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,};

// MARK: Scalar

/// The two characters of each 12-bit value, the first in the low byte; and the 12 bits of each pair
/// of characters, indexed by the first in the low byte, 0xF000 where either is outside the
/// alphabet. Filled when the library loads: the scalar loops then take half as many lookups as
/// one per character, and move eight characters per load or store.
static uint16_t encode_pairs[4096];
static uint16_t decode_pairs[65536];

__attribute__((constructor)) static void fill_pair_tables(void) {
    for (unsigned value = 0; value < 4096; value++) {
        encode_pairs[value] = (uint16_t)(alphabet[value >> 6] | alphabet[value & 0x3F] << 8);
    }
    for (unsigned pair = 0; pair < 65536; pair++) {
        uint8_t first = sextets[pair & 0xFF], second = sextets[pair >> 8];
        decode_pairs[pair] = first == 0xFF || second == 0xFF ? 0xF000 : (uint16_t)(first << 6 | second);
    }
}

static size_t encode_scalar(const uint8_t *input, size_t length, uint8_t *output) {
    size_t read = 0, written = 0;
    // Six bytes to eight characters per step, reading eight (so never the last two bytes).
    for (; read + 8 <= length; read += 6, written += 8) {
        uint64_t word;
        memcpy(&word, input + read, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        word = __builtin_bswap64(word);  // the first byte in the top bits
#endif
        uint64_t characters = (uint64_t)encode_pairs[word >> 52] | (uint64_t)encode_pairs[word >> 40 & 0xFFF] << 16
            | (uint64_t)encode_pairs[word >> 28 & 0xFFF] << 32 | (uint64_t)encode_pairs[word >> 16 & 0xFFF] << 48;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        characters = __builtin_bswap64(characters);  // the first character in the first byte
#endif
        memcpy(output + written, &characters, 8);
    }
    for (; read + 3 <= length; read += 3, written += 4) {
        uint32_t chunk = (uint32_t)input[read] << 16 | (uint32_t)input[read + 1] << 8 | input[read + 2];
        output[written] = alphabet[chunk >> 18];
        output[written + 1] = alphabet[chunk >> 12 & 0x3F];
        output[written + 2] = alphabet[chunk >> 6 & 0x3F];
        output[written + 3] = alphabet[chunk & 0x3F];
    }
    size_t left = length - read;
    if (left > 0) {
        uint32_t chunk = (uint32_t)input[read] << 16 | (left == 2 ? (uint32_t)input[read + 1] << 8 : 0);
        output[written] = alphabet[chunk >> 18];
        output[written + 1] = alphabet[chunk >> 12 & 0x3F];
        output[written + 2] = left == 2 ? alphabet[chunk >> 6 & 0x3F] : '=';
        output[written + 3] = '=';
        written += 4;
    }
    return written;
}

/// Decodes the `groups` four-character groups at `input`; returns 0 if a character is not in the
/// alphabet (an outside character sets bits above the twelve of a pair, or the six of a sextet).
static int decode_groups_scalar(const uint8_t *input, size_t groups, uint8_t *output) {
    uint32_t outside_pairs = 0;
    size_t group = 0;
    // Eight characters to six bytes per step, two characters per lookup.
    for (; group + 2 <= groups; group += 2, input += 8, output += 6) {
        uint64_t word;
        memcpy(&word, input, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);  // the first character in the low byte
#endif
        uint32_t a = decode_pairs[word & 0xFFFF], b = decode_pairs[word >> 16 & 0xFFFF];
        uint32_t c = decode_pairs[word >> 32 & 0xFFFF], d = decode_pairs[word >> 48];
        outside_pairs |= a | b | c | d;
        uint64_t bits = (uint64_t)a << 36 | (uint64_t)b << 24 | (uint64_t)c << 12 | d;
        uint8_t bytes[6] = {
            (uint8_t)(bits >> 40), (uint8_t)(bits >> 32), (uint8_t)(bits >> 24),
            (uint8_t)(bits >> 16), (uint8_t)(bits >> 8), (uint8_t)bits,
        };
        memcpy(output, bytes, 6);
    }
    uint32_t outside = 0;
    for (; group < groups; group++, input += 4, output += 3) {
        uint32_t a = sextets[input[0]], b = sextets[input[1]], c = sextets[input[2]], d = sextets[input[3]];
        outside |= a | b | c | d;
        uint32_t chunk = a << 18 | b << 12 | c << 6 | d;
        output[0] = (uint8_t)(chunk >> 16);
        output[1] = (uint8_t)(chunk >> 8);
        output[2] = (uint8_t)chunk;
    }
    return (outside_pairs & 0xF000u) == 0 && (outside & ~0x3Fu) == 0;
}

static size_t span_scalar(const uint8_t *text, size_t length) {
    size_t read = 0;
    while (read < length && (sextets[text[read]] != 0xFF || text[read] == '=')) read++;
    return read;
}

#if defined(__x86_64__)
#include <immintrin.h>

// MARK: AVX2

/// Encodes 24 bytes to 32 characters per step while 28 bytes can be read (two 16-byte loads, 12
/// apart); returns how many bytes it encoded.
__attribute__((target("avx2"))) static size_t encode_avx2(const uint8_t *input, size_t length, uint8_t *output) {
    // Each 32-bit lane gets bytes (1, 0, 2, 1) of its group of three, so that two 16-bit
    // multiplications move the four sextets into the four bytes of the lane.
    const __m256i spread = _mm256_setr_epi8(
        1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    size_t read = 0;
    for (; read + 28 <= length; read += 24, output += 32) {
        __m128i low = _mm_loadu_si128((const __m128i *)(input + read));
        __m128i high = _mm_loadu_si128((const __m128i *)(input + read + 12));
        __m256i in = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(low), high, 1), spread);
        __m256i ac = _mm256_mulhi_epu16(_mm256_and_si256(in, _mm256_set1_epi32(0x0FC0FC00)),
                                        _mm256_set1_epi32(0x04000040));
        __m256i bd = _mm256_mullo_epi16(_mm256_and_si256(in, _mm256_set1_epi32(0x003F03F0)),
                                        _mm256_set1_epi32(0x01000010));
        __m256i s = _mm256_or_si256(ac, bd);
        // 'A' + s below 26, 'a' - 26 + s below 52, '0' - 52 + s below 62, then '+' and '/'.
        __m256i offset = _mm256_set1_epi8(65);
        offset = _mm256_add_epi8(offset, _mm256_and_si256(_mm256_cmpgt_epi8(s, _mm256_set1_epi8(25)),
                                                          _mm256_set1_epi8(6)));
        offset = _mm256_add_epi8(offset, _mm256_and_si256(_mm256_cmpgt_epi8(s, _mm256_set1_epi8(51)),
                                                          _mm256_set1_epi8(-75)));
        offset = _mm256_add_epi8(offset, _mm256_and_si256(_mm256_cmpeq_epi8(s, _mm256_set1_epi8(62)),
                                                          _mm256_set1_epi8(-15)));
        offset = _mm256_add_epi8(offset, _mm256_and_si256(_mm256_cmpeq_epi8(s, _mm256_set1_epi8(63)),
                                                          _mm256_set1_epi8(-12)));
        _mm256_storeu_si256((__m256i *)output, _mm256_add_epi8(s, offset));
    }
    return read;
}

/// Whether signed bytes lie in [low, high].
__attribute__((target("avx2"))) static inline __m256i in_range_avx2(__m256i bytes, char low, char high) {
    return _mm256_and_si256(_mm256_cmpgt_epi8(bytes, _mm256_set1_epi8((char)(low - 1))),
                            _mm256_cmpgt_epi8(_mm256_set1_epi8((char)(high + 1)), bytes));
}

/// The bytes of `c` in the alphabet, and in `*shift` what turns each into its sextet.
__attribute__((target("avx2"))) static inline __m256i alphabet_avx2(__m256i c, __m256i *shift) {
    // Bytes from 0x80 are negative, so in none of the ranges.
    __m256i upper = in_range_avx2(c, 'A', 'Z');
    __m256i lower = in_range_avx2(c, 'a', 'z');
    __m256i digit = in_range_avx2(c, '0', '9');
    __m256i plus = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('+'));
    __m256i slash = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('/'));
    *shift = _mm256_and_si256(upper, _mm256_set1_epi8(-65));
    *shift = _mm256_or_si256(*shift, _mm256_and_si256(lower, _mm256_set1_epi8(-71)));
    *shift = _mm256_or_si256(*shift, _mm256_and_si256(digit, _mm256_set1_epi8(4)));
    *shift = _mm256_or_si256(*shift, _mm256_and_si256(plus, _mm256_set1_epi8(19)));
    *shift = _mm256_or_si256(*shift, _mm256_and_si256(slash, _mm256_set1_epi8(16)));
    return _mm256_or_si256(_mm256_or_si256(upper, lower), _mm256_or_si256(digit, _mm256_or_si256(plus, slash)));
}

/// Decodes 32 characters to 24 bytes per step while `room` bytes of output allow its 28-byte
/// writes; returns how many characters it decoded, and clears `*valid` if one is outside the alphabet.
__attribute__((target("avx2"))) static size_t decode_avx2(
    const uint8_t *input, size_t length, uint8_t *output, size_t room, int *valid) {
    const __m256i gather = _mm256_setr_epi8(
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    __m256i outside = _mm256_setzero_si256();
    size_t read = 0, written = 0;
    for (; read + 32 <= length && written + 28 <= room; read += 32, written += 24) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(input + read));
        __m256i shift;
        __m256i inside = alphabet_avx2(c, &shift);
        outside = _mm256_or_si256(outside, _mm256_andnot_si256(inside, _mm256_set1_epi8(-1)));
        __m256i s = _mm256_add_epi8(c, shift);
        // Sextets a, b, c, d of each lane become the 24-bit a<<18 | b<<12 | c<<6 | d.
        __m256i pairs = _mm256_maddubs_epi16(s, _mm256_set1_epi32(0x01400140));
        __m256i groups = _mm256_shuffle_epi8(_mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00011000)), gather);
        _mm_storeu_si128((__m128i *)(output + written), _mm256_castsi256_si128(groups));
        _mm_storeu_si128((__m128i *)(output + written + 12), _mm256_extracti128_si256(groups, 1));
    }
    if (!_mm256_testz_si256(outside, outside)) *valid = 0;
    return read;
}

/// Where the first byte that is not a base64 character is, 32 bytes at a time; or how many bytes
/// it read without finding one.
__attribute__((target("avx2"))) static size_t span_avx2(const uint8_t *text, size_t length) {
    size_t read = 0;
    for (; read + 32 <= length; read += 32) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(text + read));
        __m256i shift;
        __m256i inside = _mm256_or_si256(alphabet_avx2(c, &shift), _mm256_cmpeq_epi8(c, _mm256_set1_epi8('=')));
        uint32_t outside = ~(uint32_t)_mm256_movemask_epi8(inside);
        if (outside != 0) return read + (size_t)__builtin_ctz(outside);
    }
    return read;
}

// MARK: AVX-512 VBMI

#define AVX512 "avx512f,avx512bw,avx512vbmi"

/// Bytes (1, 0, 2, 1) of each group of three, for each of the 16 groups of 48 bytes.
static const uint8_t spread48[64] = {
    1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 13, 12, 14, 13, 16, 15, 17, 16, 19, 18, 20, 19,
    22, 21, 23, 22, 25, 24, 26, 25, 28, 27, 29, 28, 31, 30, 32, 31, 34, 33, 35, 34, 37, 36, 38, 37,
    40, 39, 41, 40, 43, 42, 44, 43, 46, 45, 47, 46,
};

/// Bytes 2, 1, 0 of each of the 16 32-bit lanes, packed into 48.
static const uint8_t gather48[64] = {
    2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 18, 17, 16, 22, 21, 20, 26, 25, 24, 30, 29, 28, 34, 33, 32,
    38, 37, 36, 42, 41, 40, 46, 45, 44, 50, 49, 48, 54, 53, 52, 58, 57, 56, 62, 61, 60,
};

/// Encodes 48 bytes to 64 characters per step; returns how many bytes it encoded.
__attribute__((target(AVX512))) static size_t encode_avx512(const uint8_t *input, size_t length, uint8_t *output) {
    const __m512i spread = _mm512_loadu_si512(spread48);
    const __m512i characters = _mm512_loadu_si512(alphabet);
    // Where each sextet starts in the 64-bit lane holding two spread groups: 10, 4, 22, 16 and 32 more.
    const __m512i shifts = _mm512_set1_epi64(0x3036242A1016040A);
    size_t read = 0;
    for (; read + 48 <= length; read += 48, output += 64) {
        __m512i in = _mm512_maskz_loadu_epi8(0x0000FFFFFFFFFFFFull, input + read);
        __m512i s = _mm512_multishift_epi64_epi8(shifts, _mm512_permutexvar_epi8(spread, in));
        _mm512_storeu_si512(output, _mm512_permutexvar_epi8(s, characters));
    }
    return read;
}

/// Decodes 64 characters to 48 bytes per step; returns how many characters it decoded, and clears
/// `*valid` if one is outside the alphabet.
__attribute__((target(AVX512))) static size_t decode_avx512(
    const uint8_t *input, size_t length, uint8_t *output, int *valid) {
    const __m512i low = _mm512_loadu_si512(sextets);
    const __m512i high = _mm512_loadu_si512(sextets + 64);
    const __m512i gather = _mm512_loadu_si512(gather48);
    __m512i outside = _mm512_setzero_si512();
    size_t read = 0;
    for (; read + 64 <= length; read += 64, output += 48) {
        __m512i c = _mm512_loadu_si512(input + read);
        // The table of the low seven bits; a byte from 0x80 or outside the alphabet has bit 7 set.
        __m512i s = _mm512_permutex2var_epi8(low, c, high);
        outside = _mm512_or_si512(outside, _mm512_or_si512(c, s));
        __m512i pairs = _mm512_maddubs_epi16(s, _mm512_set1_epi32(0x01400140));
        __m512i groups = _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x00011000));
        _mm512_mask_storeu_epi8(output, 0x0000FFFFFFFFFFFFull, _mm512_permutexvar_epi8(gather, groups));
    }
    if (_mm512_movepi8_mask(outside) != 0) *valid = 0;
    return read;
}
/// Where the first byte that is not a base64 character is, 64 bytes at a time; or how many bytes
/// it read without finding one.
__attribute__((target(AVX512))) static size_t span_avx512(const uint8_t *text, size_t length) {
    const __m512i low = _mm512_loadu_si512(sextets);
    const __m512i high = _mm512_loadu_si512(sextets + 64);
    size_t read = 0;
    for (; read + 64 <= length; read += 64) {
        __m512i c = _mm512_loadu_si512(text + read);
        __m512i s = _mm512_permutex2var_epi8(low, c, high);
        __mmask64 padding = _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8('='));
        __mmask64 outside = _mm512_movepi8_mask(_mm512_or_si512(c, s)) & ~padding;
        if (outside != 0) return read + (size_t)__builtin_ctzll(outside);
    }
    return read;
}
#endif

// MARK: Entry points

int autodiffd_base64_supports(int implementation) {
    switch (implementation) {
    case AUTODIFFD_BASE64_SCALAR:
        return 1;
#if defined(__x86_64__)
    case AUTODIFFD_BASE64_AVX2:
        return __builtin_cpu_supports("avx2");
    case AUTODIFFD_BASE64_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vbmi");
#endif
    default:
        return 0;
    }
}

size_t autodiffd_base64_encode(const uint8_t *input, size_t length, uint8_t *output, int implementation) {
    size_t read = 0;
#if defined(__x86_64__)
    if (implementation == AUTODIFFD_BASE64_AVX512) read = encode_avx512(input, length, output);
    if (implementation == AUTODIFFD_BASE64_AVX2) read = encode_avx2(input, length, output);
#endif
    return read / 3 * 4 + encode_scalar(input + read, length - read, output + read / 3 * 4);
}

size_t autodiffd_base64_span(const uint8_t *text, size_t length, int implementation) {
    size_t read = 0;
#if defined(__x86_64__)
    if (implementation == AUTODIFFD_BASE64_AVX512) read = span_avx512(text, length);
    if (implementation == AUTODIFFD_BASE64_AVX2) read = span_avx2(text, length);
#endif
    return read + span_scalar(text + read, length - read);
}

int autodiffd_base64_decode(
    const uint8_t *input, size_t length, size_t padding, uint8_t *output, int implementation) {
    size_t whole = padding > 0 ? length - 4 : length;  // characters in groups without padding
    size_t read = 0;
    int valid = 1;
#if defined(__x86_64__)
    size_t room = length / 4 * 3 - padding;
    if (implementation == AUTODIFFD_BASE64_AVX512) read = decode_avx512(input, whole, output, &valid);
    if (implementation == AUTODIFFD_BASE64_AVX2) read = decode_avx2(input, whole, output, room, &valid);
#endif
    valid &= decode_groups_scalar(input + read, (whole - read) / 4, output + read / 4 * 3);
    if (padding > 0) {
        const uint8_t *last = input + whole;
        uint8_t *end = output + whole / 4 * 3;
        uint32_t a = sextets[last[0]], b = sextets[last[1]], c = padding == 1 ? sextets[last[2]] : 0;
        valid &= ((a | b | c) & ~0x3Fu) == 0;
        uint32_t chunk = a << 18 | b << 12 | c << 6;
        end[0] = (uint8_t)(chunk >> 16);
        if (padding == 1) end[1] = (uint8_t)(chunk >> 8);
    }
    return valid;
}
