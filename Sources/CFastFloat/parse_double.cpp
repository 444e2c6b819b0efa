#include "CFastFloat.h"

#include <fast_float/fast_float.h>

size_t autodiffd_parse_double(const char *first, size_t length, double *value) {
    fast_float::from_chars_result result = fast_float::from_chars(first, first + length, *value);
    if (result.ec != std::errc()) {
        return 0;
    }
    return static_cast<size_t>(result.ptr - first);
}
