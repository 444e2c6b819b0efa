// Checks Sources/CFastFloat against glibc's strtod, bit for bit, on seeded random number texts:
// shortest-ish %.17g of any float64, 1-25 random digits with a point and exponents -350..350,
// subnormals with 21 digits, and 18-digit texts at and past the largest float64. Not part of
// `swift test` (the Swift suite runs a smaller set through the parser); results in PERFORMANCE.md.
//
//   clang++ -O2 -I Sources/CFastFloat/include scripts/bench/fast_float_vs_strtod.cpp \
//       Sources/CFastFloat/parse_double.cpp -o /tmp/ffcheck && /tmp/ffcheck 4000000
#include "CFastFloat.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    std::mt19937_64 rng(42);
    long mismatches = 0;
    char text[128];
    for (long i = 0; i < count; i++) {
        std::string s;
        double x;
        uint64_t bits;
        switch (i % 4) {
        case 0:
            bits = rng();
            memcpy(&x, &bits, 8);
            if (x != x || x - x != 0) continue;
            snprintf(text, sizeof text, "%.17g", x);
            s = text;
            break;
        case 1: {
            int digits = 1 + rng() % 25;
            for (int d = 0; d < digits; d++) s += char('0' + rng() % 10);
            while (s.size() > 1 && s[0] == '0') s.erase(0, 1);
            int point = rng() % (s.size() + 1);
            if (point > 0 && point < (int)s.size()) s.insert(point, ".");
            int exponent = int(rng() % 701) - 350;
            if (exponent) s += "e" + std::to_string(exponent);
            break;
        }
        case 2:
            bits = rng() % (1ULL << 52);
            memcpy(&x, &bits, 8);
            snprintf(text, sizeof text, "%.20e", x);
            s = text;
            break;
        default:
            snprintf(text, sizeof text, "%.17e", 1.7976931348623157e308 * (1 - double(rng() % 1000) * 1e-17));
            s = text;
        }
        if (rng() % 2 && s[0] != '-') s = "-" + s;
        double fast = 0;
        size_t read = autodiffd_parse_double(s.c_str(), s.size(), &fast);
        double reference = strtod(s.c_str(), nullptr);
        if (read != s.size() || memcmp(&fast, &reference, 8) != 0) {
            if (++mismatches <= 5) printf("mismatch: %s read %.17g, strtod %.17g\n", s.c_str(), fast, reference);
        }
    }
    printf("%ld texts, %ld mismatches\n", count, mismatches);
    return mismatches == 0 ? 0 : 1;
}
