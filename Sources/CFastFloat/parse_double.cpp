#include "CFastFloat.h"

#include <fast_float/fast_float.h>

size_t autodiffd_parse_double(const char *first, size_t length, double *value) {
    fast_float::from_chars_result result = fast_float::from_chars(first, first + length, *value);
    if (result.ec != std::errc()) {
        return 0;
    }
    return static_cast<size_t>(result.ptr - first);
}

// The steps of fast_float::from_chars_advanced after its scan of the text, for a mantissa that is
// whole (its "too many digits" case never arises): Clinger's exact fast path, else Eisel-Lemire.
bool autodiffd_decimal_to_double(uint64_t mantissa, int64_t exponent, bool negative, double *value) {
    using format = fast_float::binary_format<double>;
    if (format::min_exponent_fast_path() <= exponent && exponent <= format::max_exponent_fast_path()
        && mantissa <= format::max_mantissa_fast_path()) {
        // Both operands are exact doubles, so one correctly rounded operation gives the answer.
        double result = static_cast<double>(mantissa);
        if (exponent < 0) {
            result = result / format::exact_power_of_ten(-exponent);
        } else {
            result = result * format::exact_power_of_ten(exponent);
        }
        *value = negative ? -result : result;
        return true;
    }
    fast_float::adjusted_mantissa const rounded = fast_float::compute_float<format>(exponent, mantissa);
    if (rounded.power2 < 0) {
        return false;  // too close to call from 128 bits of the product: needs the digits themselves
    }
    fast_float::to_float(negative, rounded, *value);
    return true;
}
