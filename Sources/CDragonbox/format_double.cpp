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

namespace {

/// "00" to "99": two digits per table read.
constexpr char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

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

void write_pair(std::uint32_t value, char *output) {
    std::memcpy(output, digit_pairs + 2 * value, 2);
}

/// Writes the decimal digits of `value` (not 0) at `output`; returns their count. Eight digits at a
/// time in 32-bit halves, two per step, so the chain of divisions stays short.
int write_digits(std::uint64_t value, char *output) {
    int const count = digit_count(value);
    char *end = output + count;
    while (value >= 100000000) {
        auto const low = static_cast<std::uint32_t>(value % 100000000);
        value /= 100000000;
        end -= 8;
        std::uint32_t const high4 = low / 10000, low4 = low % 10000;
        write_pair(high4 / 100, end);
        write_pair(high4 % 100, end + 2);
        write_pair(low4 / 100, end + 4);
        write_pair(low4 % 100, end + 6);
    }
    auto rest = static_cast<std::uint32_t>(value);
    while (rest >= 100) {
        end -= 2;
        write_pair(rest % 100, end);
        rest /= 100;
    }
    if (rest >= 10) {
        write_pair(rest, end - 2);
    } else {
        end[-1] = static_cast<char>('0' + rest);
    }
    return count;
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
    char digits[24];
    int const count = write_digits(decimal.significand, digits);
    // value = 0.d₁d₂…dₙ × 10^point
    int const point = count + decimal.exponent;
    if (point < -3 || std::fabs(value) > 9007199254740992.0) {
        *out++ = digits[0];
        if (count > 1) {
            *out++ = '.';
            std::memcpy(out, digits + 1, static_cast<size_t>(count - 1));
            out += count - 1;
        }
        *out++ = 'e';
        int exponent = point - 1;
        *out++ = exponent < 0 ? '-' : '+';
        if (exponent < 0) {
            exponent = -exponent;
        }
        if (exponent >= 100) {
            *out++ = static_cast<char>('0' + exponent / 100);
        }
        *out++ = static_cast<char>('0' + exponent / 10 % 10);
        *out++ = static_cast<char>('0' + exponent % 10);
    } else if (point <= 0) {
        std::memcpy(out, "0.", 2);
        out += 2;
        for (int i = 0; i < -point; ++i) {
            *out++ = '0';
        }
        std::memcpy(out, digits, static_cast<size_t>(count));
        out += count;
    } else if (point >= count) {
        std::memcpy(out, digits, static_cast<size_t>(count));
        out += count;
        for (int i = count; i < point; ++i) {
            *out++ = '0';
        }
        std::memcpy(out, ".0", 2);
        out += 2;
    } else {
        std::memcpy(out, digits, static_cast<size_t>(point));
        out += point;
        *out++ = '.';
        std::memcpy(out, digits + point, static_cast<size_t>(count - point));
        out += count - point;
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
