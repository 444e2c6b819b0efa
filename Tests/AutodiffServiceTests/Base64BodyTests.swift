import AutodiffCore
import Foundation
import Testing

@testable import AutodiffService

/// A long `"base64"` string is decoded straight from the request body's bytes; everything a user sees
/// (the values, what is refused, the errors and their offsets) is as for any other string.
@Suite struct Base64BodyTests {
    static func base64(_ values: [Double]) -> String {
        values.withUnsafeBytes { Data($0) }.base64EncodedString()
    }

    static func tensor(_ json: String) throws -> Tensor {
        try WireTensor.decode(JSONParser.parse(Array(json.utf8)), what: "x", node: nil, limits: Limits())
    }

    /// The string of a parsed string value, however the parser kept it.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: text
        case .base64Text(let bytes)?: String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    @Test func onlyALongBase64MemberIsKeptAsBytes() throws {
        let long = Self.base64((0..<40).map(Double.init))  // 428 characters
        let short = Self.base64([1, 2])
        let json = #"{"a": {"base64": "\#(long)"}, "b": {"base64": "\#(short)"}, "c": "\#(long)"}"#
        let value = try JSONParser.parse(Array(json.utf8))
        guard case .object(let fields) = value, case .object(let a)? = fields["a"], case .object(let b)? = fields["b"]
        else {
            Issue.record("not the objects sent: \(value)")
            return
        }
        #expect(a["base64"] == .base64Text(Array(long.utf8)[...]))
        #expect(b["base64"] == .string(short))
        #expect(fields["c"] == .string(long))
    }

    /// Around the shortest text kept as bytes, plain and with every `/` escaped as `\/`.
    @Test func decodesEveryBitWhateverTheRoute() throws {
        var random = SplitMix64(seed: 11)
        for count in [23, 24, 25, 1_000] {  // 248, 256, 268 and 10 668 characters
            let values = (0..<count).map { _ in Double(bitPattern: random.next()) }
            let text = Self.base64(values)
            #expect(text.contains("/"))
            for sent in [text, text.replacingOccurrences(of: "/", with: #"\/"#)] {
                let tensor = try Self.tensor(#"{"shape": [\#(count)], "dtype": "float64", "base64": "\#(sent)"}"#)
                #expect(tensor.shape == [count])
                #expect(tensor.data.map(\.bitPattern) == values.map(\.bitPattern))
            }
        }
    }

    @Test func refusesBadLongBase64WithTheUsualMessages() {
        let text = Self.base64((0..<40).map(Double.init))
        let invalid = #"x: "base64" is not valid base64 (RFC 4648)"#
        let cases = [
            (String(text.dropFirst(4)) + "@@@@", invalid),
            (String(text.dropFirst(4)) + "\u{7F}AAA", invalid),
            ("é" + String(text.dropFirst(2)), invalid),
            (String(text.dropLast(4)), #"x: "base64" decodes to 318 bytes; 40 float64 values need 320"#),
        ]
        for (sent, message) in cases {
            #expect(throws: AutodiffError.invalidRequest(message, node: nil), "\(sent)") {
                try Self.tensor(#"{"shape": [40], "dtype": "float64", "base64": "\#(sent)"}"#)
            }
        }
    }

    /// A `"base64"` string is accepted or refused, with the same error at the same offset, exactly as
    /// the same string under another key of the same length.
    @Test func acceptsAndRefusesWhatAnyOtherStringDoes() throws {
        let long = String(repeating: "QUJD", count: 80)
        let endings: [[UInt8]] = [
            [], Array(#"\/"#.utf8), Array(#"\u0041"#.utf8), Array(#"\"#.utf8), Array(#"\x"#.utf8),
            Array(#"\ud800"#.utf8), [0x0A], [0x09], [0x00], [0x7F], Array("é".utf8), [0xFF], [0xC3],
            [0xED, 0xA0, 0x80], Array(" =".utf8),
        ]
        for ending in endings {
            for body in [Array(long.utf8) + ending, ending + Array(long.utf8), Array(long.prefix(255).utf8) + ending] {
                for closing in [Array(#""}"#.utf8), Array(#"""#.utf8), []] {
                    let parsed = ["base64", "others"].map { key in
                        Result { () throws(JSONParser.Failure) in
                            try JSONParser.parse(Array(#"{"\#(key)": ""#.utf8) + body + closing)
                        }
                    }
                    switch (parsed[0], parsed[1]) {
                    case (.success(.object(let a)), .success(.object(let b))):
                        #expect(Self.text(a["base64"]) == Self.text(b["others"]))
                    case (.failure(let a), .failure(let b)):
                        #expect(a == b)
                    default:
                        Issue.record("\(parsed) for \(body) \(closing)")
                    }
                }
            }
        }
    }
}
