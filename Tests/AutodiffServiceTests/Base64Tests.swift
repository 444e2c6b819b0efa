import Foundation
import Testing

@testable import AutodiffService

/// The service's own base64 agrees with Foundation's, in both directions, in every implementation
/// this CPU runs (plain C always; AVX2 and AVX-512 where present), so a machine without the vector
/// instructions still tests what it runs.
@Suite struct Base64Tests {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func randomValues(_ count: Int, _ random: inout SplitMix64) -> [Double] {
        (0..<count).map { _ in Double(bitPattern: random.next()) }
    }

    static func randomBytes(_ count: Int, _ random: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    static func foundationBase64(_ values: [Double]) -> String {
        values.withUnsafeBytes { Data($0) }.base64EncodedString()
    }

    static func encode(_ bytes: [UInt8], implementation: Int32) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Base64.encodedLength(byteCount: bytes.count))
        let written = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { Base64.encode(bytes: input, into: $0, implementation: implementation) }
        }
        #expect(written == output.count)
        return output
    }

    /// The bytes of padded RFC 4648 `text`, or nil if a character before the padding is foreign.
    static func decode(_ text: [UInt8], implementation: Int32) -> [UInt8]? {
        text.withUnsafeBufferPointer { input in
            var output = [UInt8](repeating: 0, count: Base64.decodedLength(input))
            let valid = output.withUnsafeMutableBytes { Base64.decode(input, into: $0, implementation: implementation) }
            return valid ? output : nil
        }
    }

    @Test func theServiceUsesTheFastestImplementation() {
        #expect(Base64.available.first == 0)
        #expect(Base64.fastest == Base64.available.last)
    }

    @Test(arguments: Base64.available) func encodesAndDecodesEveryLengthAsFoundationDoes(implementation: Int32) {
        var random = SplitMix64(seed: 300)
        for count in Array(0...300) + [4_096, 100_003, 1 << 20 + 7] {
            let bytes = Self.randomBytes(count, &random)
            let text = Self.encode(bytes, implementation: implementation)
            #expect(String(decoding: text, as: UTF8.self) == Data(bytes).base64EncodedString(), "\(count) bytes")
            #expect(Self.decode(text, implementation: implementation) == bytes, "\(count) bytes")
        }
    }

    @Test(arguments: Base64.available) func encodesFloat64AsFoundationDoes(implementation: Int32) {
        var random = SplitMix64(seed: 64)
        for count in [0, 1, 2, 3, 5, 100, 1_001] {
            let values = Self.randomValues(count, &random)
            var output = [UInt8](repeating: 0, count: Base64.encodedLength(byteCount: count * 8))
            let written = output.withUnsafeMutableBytes {
                Base64.encode(values[...], into: $0, implementation: implementation)
            }
            #expect(written == output.count)
            #expect(String(decoding: output, as: UTF8.self) == Self.foundationBase64(values))
        }
    }

    @Test(arguments: Base64.available) func decodesEveryBit(implementation: Int32) throws {
        var random = SplitMix64(seed: 46)
        for count in [0, 1, 2, 3, 7, 1_000] {
            let values = Self.randomValues(count, &random)
            let decoded = try Base64.decodeFloat64(
                Self.foundationBase64(values), count: count, implementation: implementation)
            #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
        }
    }

    /// Every byte value at every position before the padding, in the vector blocks, the group-at-a-time
    /// part and the padded final group: refused exactly when it is outside the alphabet, and otherwise
    /// decoded as the plain C code decodes it.
    @Test(arguments: Base64.available) func refusesEveryForeignByteAtEveryPosition(implementation: Int32) {
        var random = SplitMix64(seed: 256)
        for count in [100, 101, 102] {  // two, one and no `=`
            let text = Self.encode(Self.randomBytes(count, &random), implementation: 0)
            let padding = text.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            for position in 0..<(text.count - padding) {
                for byte in 0...255 {
                    var changed = text
                    changed[position] = UInt8(byte)
                    let decoded = Self.decode(changed, implementation: implementation)
                    #expect(decoded == Self.decode(changed, implementation: 0), "byte \(byte) at \(position)")
                    // `=` may turn into padding at the end; `readsPaddingAsFoundationDoes` covers it.
                    if byte != UInt8(ascii: "=") {
                        let inAlphabet = Self.alphabet.contains(UInt8(byte))
                        #expect((decoded != nil) == inAlphabet, "byte \(byte) at \(position) of \(count)")
                    }
                }
            }
        }
    }

    /// A character outside the alphabet is refused wherever it stands, through the float64 route.
    @Test(arguments: Base64.available) func refusesAForeignCharacterAtEveryPosition(implementation: Int32) throws {
        var random = SplitMix64(seed: 7)
        let values = Self.randomValues(5, &random)
        let text = Array(Self.foundationBase64(values).utf8)  // 40 bytes: 54 characters and two `=`
        for position in 0..<(text.count - 2) {
            for foreign in Array("-_.* \n\u{0}\u{80}".utf8) {
                var changed = text
                changed[position] = foreign
                let string = String(decoding: changed, as: UTF8.self)
                #expect(throws: Base64.Failure.invalid, "\(string)") {
                    try Base64.decodeFloat64(string, count: 5, implementation: implementation)
                }
            }
        }
        let decoded = try Base64.decodeFloat64(
            String(decoding: text, as: UTF8.self), count: 5, implementation: implementation)
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
    }

    /// Padding variants, including the stray `=` Foundation tolerates (`"AAAA="`, `"AAAAAAAAAA=A"`):
    /// a text is read exactly as Foundation reads it.
    @Test(arguments: Base64.available) func readsPaddingAsFoundationDoes(implementation: Int32) {
        let texts = [
            "AAAAAAAAAAA=", "AAAAAAAAAAA==", "AAAAAAAAAAAA", "AAAA=", "AAAAAAAAAA==", "AAAAAAAA=AA=", "=AAAAAAAAAAA",
            "AAAAAAAAAA=A", "AAAAAAAAA===", "AAAAAAAAAAB=", "AAAAAAAAAAA= ", "8D8AAAAAAAA=", "====",
        ]
        for text in texts {
            let expected: Result<[UInt64], Base64.Failure> =
                switch Data(base64Encoded: text) {
                case nil: .failure(.invalid)
                case let bytes? where bytes.count == 8:
                    .success([bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }])
                case let bytes?: .failure(.wrongLength(bytes: bytes.count))
                }
            let got = Result { () throws(Base64.Failure) in
                try Base64.decodeFloat64(text, count: 1, implementation: implementation).map(\.bitPattern)
            }
            #expect(got == expected, "\(text)")
        }
    }

    @Test(arguments: Base64.available) func acceptsAndRefusesWhatFoundationDoes(implementation: Int32) {
        var random = SplitMix64(seed: 99)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n-_.".utf8)
        for _ in 0..<20_000 {
            // Up to 12 values: 128 characters, so the vector loops run too.
            let count = 1 + Int(random.next() % 12)
            var text = Array(Self.foundationBase64(Self.randomValues(count, &random)).utf8)
            for _ in 0..<(1 + random.next() % 2) {
                let position = Int(random.next() % UInt64(text.count))
                switch random.next() % 3 {
                case 0: text[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: text.remove(at: position)
                default: text.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
                }
            }
            let string = String(decoding: text, as: UTF8.self)
            guard let reference = Data(base64Encoded: string) else {
                for count in 1...12 {
                    #expect(throws: Base64.Failure.self, "\(string)") {
                        try Base64.decodeFloat64(string, count: count, implementation: implementation)
                    }
                }
                continue
            }
            let decodedCount = reference.count / 8
            if reference.count % 8 == 0 {
                let decoded = try? Base64.decodeFloat64(string, count: decodedCount, implementation: implementation)
                #expect(decoded?.withUnsafeBytes { Data($0) } == reference, "\(string)")
            } else {
                #expect(throws: Base64.Failure.wrongLength(bytes: reference.count), "\(string)") {
                    try Base64.decodeFloat64(string, count: decodedCount, implementation: implementation)
                }
            }
        }
    }

    /// Where base64 text ends: at the first byte (any of the 256) that is neither in the alphabet nor
    /// `=`, at every position of the vector blocks and the tail.
    @Test(arguments: Base64.available) func findsWhereBase64TextEnds(implementation: Int32) {
        var random = SplitMix64(seed: 150)
        let text = (0..<150).map { _ in (Self.alphabet + [UInt8(ascii: "=")])[Int(random.next() % 65)] }
        for position in 0..<text.count {
            for byte in 0...255 {
                var changed = text
                changed[position] = UInt8(byte)
                let span = changed.withUnsafeBufferPointer { Base64.span($0, implementation: implementation) }
                let stops = !Self.alphabet.contains(UInt8(byte)) && byte != Int(UInt8(ascii: "="))
                #expect(span == (stops ? position : text.count), "byte \(byte) at \(position)")
            }
        }
        #expect([UInt8]().withUnsafeBufferPointer { Base64.span($0, implementation: implementation) } == 0)
    }
}

extension Base64 {
    /// The tests' texts are strings; the service hands the decoder the bytes of the request body.
    static func decodeFloat64(_ text: String, count: Int, implementation: Int32 = fastest) throws(Failure) -> [Double] {
        try decodeFloat64(Array(text.utf8)[...], count: count, implementation: implementation)
    }
}
