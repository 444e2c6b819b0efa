#include "CDragonbox.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#if __has_include(<dragonbox/dragonbox.h>)
#include <dragonbox/dragonbox.h>
#elif __has_include(<dragonbox-1.1.3/dragonbox/dragonbox.h>)
// Debian 12 installs the header under a versioned directory (apt-get install libdragonbox-dev).
#include <dragonbox-1.1.3/dragonbox/dragonbox.h>
#else
#error "Dragonbox not found: apt-get install libdragonbox-dev"
#endif

// Every copy below has a fixed size, so it compiles to one or two register moves instead of a call
// to memcpy with a length; the bytes a copy writes past the end of the text are overwritten by what
// follows it or lie in the scratch space the caller provides (AUTODIFFD_DOUBLE_TEXT_MAX).

namespace {

constexpr std::uint64_t powers_of_ten[] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

/// How many decimal digits `value` (not 0) has.
int digit_count(std::uint64_t value) {
    int const bits = 64 - __builtin_clzll(value);
    int const estimate = (bits * 1233) >> 12;  // floor(log10(2^bits)), or one more than the count - 1
    return estimate - (value < powers_of_ten[estimate]) + 1;
}

/// The eight decimal digits of `value` (below 10^8, leading zeros included) as ASCII, the first in
/// the lowest byte, so one little-endian store writes them in order. The value is split in halves,
/// quarters and digits in the lanes of one 64-bit word, each quotient by a multiply and a shift
/// (exact for these ranges: n / 10^4 for n < 10^8, n / 100 for n < 10^4, n / 10 for n < 100).
std::uint64_t eight_digits(std::uint32_t value) {
    std::uint64_t const high4 = (std::uint64_t{value} * 109951163) >> 40;
    std::uint64_t const fours = high4 | (std::uint64_t{value - static_cast<std::uint32_t>(high4) * 10000} << 32);
    std::uint64_t const high2 = ((fours * 5243) >> 19) & 0x0000007F0000007FULL;
    std::uint64_t const twos = high2 | ((fours - high2 * 100) << 16);
    std::uint64_t const high1 = ((twos * 103) >> 10) & 0x000F000F000F000FULL;
    std::uint64_t const ones = high1 | ((twos - high1 * 10) << 8);
    return ones + 0x3030303030303030ULL;
}

void store8(char *output, std::uint64_t word) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "eight_digits puts the first digit in the low byte");
    std::memcpy(output, &word, 8);
}

/// Writes `e-XX`, `e+XX` or `e±XXX` for `exponent` at `out`; returns the end.
char *write_exponent(int exponent, char *out) {
    out[0] = 'e';
    out[1] = exponent < 0 ? '-' : '+';
    out += 2;
    if (exponent < 0) {
        exponent = -exponent;
    }
    if (exponent >= 100) {
        *out++ = static_cast<char>('0' + exponent / 100);
    }
    out[0] = static_cast<char>('0' + exponent / 10 % 10);
    out[1] = static_cast<char>('0' + exponent % 10);
    return out + 2;
}

}  // namespace

size_t autodiffd_format_double(double value, char *output) {
    char *out = output;
    if (value == 0) {
        if (std::signbit(value)) {
            *out++ = '-';
        }
        std::memcpy(out, "0.0", 3);
        return static_cast<size_t>(out + 3 - output);
    }
    // value = ±significand × 10^exponent, with the fewest digits that read back to value; among
    // those, the closest to it (ties to an even last digit).
    auto const decimal = jkj::dragonbox::to_decimal(value);
    if (decimal.is_negative) {
        *out++ = '-';
    }
    // The significand (below 10^17) as 17 digits with leading zeros at block[0...16]; its own
    // `count` digits start at `digits`. The bytes after them are set so every fixed-size copy
    // below reads only initialised bytes.
    std::uint64_t const significand = decimal.significand;
    int const count = digit_count(significand);
    char block[48];
    std::uint64_t const high = significand / 100000000;
    block[0] = static_cast<char>('0' + high / 100000000);
    store8(block + 1, eight_digits(static_cast<std::uint32_t>(high % 100000000)));
    store8(block + 9, eight_digits(static_cast<std::uint32_t>(significand % 100000000)));
    std::memset(block + 17, '0', 31);
    char const *digits = block + 17 - count;
    // value = 0.d₁d₂…dₙ × 10^point
    int const point = count + decimal.exponent;
    bool const scientific = point < -3 || std::fabs(value) > 9007199254740992.0;
    if (scientific) {
        // d.ddde±XX (at most 17 digits, so the copy of the fraction's 16 covers them all).
        out[0] = digits[0];
        out[1] = '.';
        std::memcpy(out + 2, digits + 1, 16);
        out = write_exponent(point - 1, out + (count > 1 ? count + 1 : 1));
    } else if (point <= 0) {
        // 0.ddd to 0.000ddd
        std::memcpy(out, "0.000000", 8);
        std::memcpy(out + 2 - point, digits, 24);
        out += 2 - point + count;
    } else if (point >= count) {
        // ddd.0 to ddd000.0 (point <= 16: value <= 2^53 < 10^16)
        std::memcpy(out, digits, 24);
        std::memcpy(out + count, block + 17 + 8, 16);  // "0000000000000000"
        std::memcpy(out + point, ".0", 2);
        out += point + 2;
    } else {
        // dd.ddd (the fraction has at most 16 digits)
        std::memcpy(out, digits, 24);
        out[point] = '.';
        std::memcpy(out + point + 1, digits + point, 16);
        out += count + 1;
    }
    return static_cast<size_t>(out - output);
}

size_t autodiffd_format_doubles(const double *values, size_t count, char *output) {
    char *out = output;
    for (size_t i = 0; i < count; ++i) {
        if (i > 0) {
            *out++ = ',';
        }
        double const value = values[i];
        if (std::isfinite(value)) {
            out += autodiffd_format_double(value, out);
        } else if (std::isnan(value)) {
            std::memcpy(out, "\"NaN\"", 5);
            out += 5;
        } else if (value > 0) {
            std::memcpy(out, "\"Infinity\"", 10);
            out += 10;
        } else {
            std::memcpy(out, "\"-Infinity\"", 11);
            out += 11;
        }
    }
    return static_cast<size_t>(out - output);
}
