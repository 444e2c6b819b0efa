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

/// Writes the decimal digits of `value` (not 0) at `output`; returns their count.
int write_digits(std::uint64_t value, char *output) {
    char reversed[20];
    int count = 0;
    while (value != 0) {
        reversed[count++] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    for (int i = 0; i < count; ++i) {
        output[i] = reversed[count - 1 - i];
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
    char digits[20];
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
