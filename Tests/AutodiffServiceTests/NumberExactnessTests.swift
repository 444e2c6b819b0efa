import Foundation
import Testing

@testable import AutodiffService

/// The request parser reads every number to the float64 `strtod` gives (Swift's `Double(String)`),
/// bit for bit, and refuses the same ones as outside the float64 range; the writer's text reads back
/// to the same bits.
@Suite struct NumberExactnessTests {
    /// How many random number texts the parser is checked on. A larger run (set
    /// `AUTODIFFD_NUMBER_CASES`, e.g. 20000000) is recorded in docs/PERFORMANCE.md.
    static let randomCases =
        ProcessInfo.processInfo.environment["AUTODIFFD_NUMBER_CASES"].flatMap(Int.init) ?? 300_000

    /// Texts that are hard for fast paths: ties, subnormals, the float64 limits, long mantissas.
    static let boundaryTexts = [
        "0", "-0", "0.0", "-0.0", "0e0", "-0e-5", "1", "-1", "0.1", "0.30000000000000004",
        "9007199254740992", "9007199254740993", "9007199254740993.0000000000000000001", "9007199254740995",
        "18446744073709551615", "18446744073709551616", "99999999999999999999", "12345678901234567890123",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "2.2250738585072011e-308", "2.2250738585072012e-308", "2.2250738585072014e-308",
        "4.9406564584124654e-324", "5e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
        "1e-324", "1e-400", "-1e-400", "3e-324", "7.4109846876186982e-324",
        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "-1.7976931348623159e308",
        "1e308", "1e309", "1e400", "-1e400", "179769313486231570000000000000000000000000000000000000000000000000000"
            + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "7.2057594037927933e16", "1e22", "1e23", "8.98846567431158e307", "1.448997445238699",
        "123456789012345678901234567890e-30", "0." + String(repeating: "0", count: 330) + "1e330",
        String(repeating: "9", count: 800), "1" + String(repeating: "0", count: 308) + "e-308",
    ]

    /// Parses `texts` as one JSON array and checks each element against `Double(String)`.
    func check(_ texts: [String]) throws {
        var finite: [String] = []
        for text in texts {
            if let expected = Double(text), expected.isFinite {
                finite.append(text)
            } else {
                #expect(throws: JSONParser.Failure.self, "\(text) is outside float64") {
                    try JSONParser.parse(Array(text.utf8))
                }
            }
        }
        let document = Array(("[" + finite.joined(separator: ",") + "]").utf8)
        guard case .numbers(let values) = try JSONParser.parse(document) else {
            Issue.record("an array of numbers did not parse as packed numbers")
            return
        }
        #expect(values.count == finite.count)
        var mismatches = 0
        for (text, value) in zip(finite, values) where Double(text)?.bitPattern != value.bitPattern {
            mismatches += 1
            if mismatches <= 5 { Issue.record("\(text) parsed as \(value), strtod gives \(Double(text) ?? .nan)") }
        }
        #expect(mismatches == 0)
    }

    @Test func boundaryTextsMatchStrtod() throws {
        try check(Self.boundaryTexts)
        try check(Self.boundaryTexts.filter { !$0.hasPrefix("-") }.map { "-" + $0 })
    }

    @Test func randomTextsMatchStrtod() throws {
        var random = SplitMix64(seed: 0xF1_0A7)
        var texts: [String] = []
        texts.reserveCapacity(Self.randomCases)
        for case_ in 0..<Self.randomCases {
            switch case_ % 4 {
            case 0:
                // Any float64, shortest text: what clients that print with repr() send.
                let x = Double(bitPattern: random.next())
                if x.isFinite { texts.append(x.description) }
            case 1:
                // 1 to 25 random digits, a point somewhere, any exponent from -350 to 350.
                texts.append(Self.randomDecimal(&random, digits: 1 + Int(random.next() % 25), exponentRange: 700))
            case 2:
                // 17 to 20 digit mantissas, near the ends of the range and in the middle.
                texts.append(Self.randomDecimal(&random, digits: 17 + Int(random.next() % 4), exponentRange: 40))
                let edge =
                    random.next() % 2 == 0 ? "e-3" + String(random.next() % 30) : "e30" + String(random.next() % 10)
                texts.append(String(1 + random.next() % 9) + "." + Self.digits(&random, 18) + edge)
            default:
                // Subnormals and the values just around the smallest and largest finite ones.
                let x = Double(bitPattern: random.next() % (1 << 52))
                texts.append(x.description)
                texts.append(String(format: "%.20e", x))
                let nearMax = Double.greatestFiniteMagnitude * (1 - Double(random.next() % 1000) * 1e-17)
                texts.append(String(format: "%.17e", nearMax))
            }
        }
        try check(texts)
    }

    /// Around the limits of the one-pass path: 19 digits (read whole) against 20 (read again from
    /// the text), leading zeros counted as digits, Clinger's exact range (mantissa up to 2^53,
    /// exponent -22 to 22), exponents where fast_float stops counting, and every exponent from -345
    /// to 310 with 17 to 20 digit mantissas.
    @Test func onePassLimitsMatchStrtod() throws {
        var texts = [
            "1234567890123456789", "12345678901234567890", "9999999999999999999", "10000000000000000000",
            "0.123456789012345678", "0.1234567890123456789", "0.000123456789012345678", "0.0001234567890123456789",
            "123456789.0123456789", "1234567890.123456789", "9007199254740992e-22", "9007199254740993e-22",
            "9007199254740992e22", "9007199254740993e22", "9007199254740992e23", "9007199254740991e-23",
            "1e22", "1e23", "1e-22", "1e-23", "-0e0", "0e99999999999999999999", "0.0e-99999999999999999999",
            "1e65535", "1e65536", "1e-65535", "1e-65536", "1e-99999999999999999999", "1e99999999999999999999",
            "123e-0000000000000000000000000000000000000065535", "1E+308", "1E-324", "17976931348623157e292",
            "17976931348623158e292", "4940656458412465e-339", "24703282292062327e-340", "24703282292062328e-340",
            "2225073858507201e-323", "22250738585072014e-324", "9999999999999999999e-343", "1999999999999999999e289",
        ]
        var random = SplitMix64(seed: 0x0E_9A55)
        for exponent in -345...310 {
            for digits in 17...20 {
                texts.append(Self.digits(&random, 1) + "." + Self.digits(&random, digits - 1) + "e\(exponent)")
                texts.append("0." + Self.digits(&random, digits - 1) + "e\(exponent)")
            }
        }
        try check(texts)
        try check(texts.filter { !$0.hasPrefix("-") }.map { "-" + $0 })
    }

    static func digits(_ random: inout SplitMix64, _ count: Int) -> String {
        String((0..<count).map { _ in Character(Unicode.Scalar(UInt8(ascii: "0") + UInt8(random.next() % 10))) })
    }

    static func randomDecimal(_ random: inout SplitMix64, digits count: Int, exponentRange: UInt64) -> String {
        var mantissa = digits(&random, count)
        while mantissa.count > 1, mantissa.hasPrefix("0") { mantissa.removeFirst() }
        let point = Int(random.next() % UInt64(mantissa.count + 1))
        var text = mantissa
        if point > 0, point < mantissa.count {
            text.insert(".", at: text.index(text.startIndex, offsetBy: point))
        }
        let exponent = Int(random.next() % (exponentRange + 1)) - Int(exponentRange / 2)
        if exponent != 0 { text += "e" + String(exponent) }
        return (random.next() % 2 == 0 ? "-" : "") + text
    }

    @Test func writtenNumbersAreDescriptionsAndReadBackExactly() throws {
        var random = SplitMix64(seed: 0x0DD_BA11)
        var values: [Double] = [0, -0.0, 1, 0.1, 1e16, 1e21, 1e22, 1e-7, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1.0 / 3]
        while values.count < 100_000 {
            let x = Double(bitPattern: random.next())
            if x.isFinite { values.append(x) }
        }
        let text = try JSONOutput.array(values.map(JSONOutput.number)).serialized()
        #expect(text == Array(("[" + values.map(\.description).joined(separator: ",") + "]").utf8))
        guard case .numbers(let read) = try JSONParser.parse(text) else {
            Issue.record("not packed numbers")
            return
        }
        #expect(read.map(\.bitPattern) == values.map(\.bitPattern))
    }
}
