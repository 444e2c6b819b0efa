import Foundation
import Testing

@testable import AutodiffService

/// The service's own base64 agrees with Foundation's, in both directions.
@Suite struct Base64Tests {
    static func randomValues(_ count: Int, _ random: inout SplitMix64) -> [Double] {
        (0..<count).map { _ in Double(bitPattern: random.next()) }
    }

    static func foundationBase64(_ values: [Double]) -> String {
        values.withUnsafeBytes { Data($0) }.base64EncodedString()
    }

    @Test func encodesAsFoundationDoes() {
        var random = SplitMix64(seed: 64)
        for count in [0, 1, 2, 3, 5, 100, 1_001] {
            let values = Self.randomValues(count, &random)
            var output = [UInt8](repeating: 0, count: Base64.encodedLength(byteCount: count * 8))
            let written = output.withUnsafeMutableBytes { Base64.encode(values, into: $0) }
            #expect(written == output.count)
            #expect(String(decoding: output, as: UTF8.self) == Self.foundationBase64(values))
        }
    }

    @Test func decodesEveryBit() throws {
        var random = SplitMix64(seed: 46)
        for count in [0, 1, 2, 3, 7, 1_000] {
            let values = Self.randomValues(count, &random)
            let decoded = try Base64.decodeFloat64(Self.foundationBase64(values), count: count)
            #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
        }
    }

    /// A character outside the alphabet is refused wherever it stands: in the eight-at-a-time part,
    /// the four-at-a-time tail or the padded end.
    @Test func refusesAForeignCharacterAtEveryPosition() throws {
        var random = SplitMix64(seed: 7)
        let values = Self.randomValues(5, &random)
        let text = Array(Self.foundationBase64(values).utf8)  // 40 bytes: 54 characters and two `=`
        for position in 0..<(text.count - 2) {
            for foreign in Array("-_.* \n\u{0}\u{80}".utf8) {
                var changed = text
                changed[position] = foreign
                let string = String(decoding: changed, as: UTF8.self)
                #expect(throws: Base64.Failure.invalid, "\(string)") { try Base64.decodeFloat64(string, count: 5) }
            }
        }
        let decoded = try Base64.decodeFloat64(String(decoding: text, as: UTF8.self), count: 5)
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func acceptsAndRefusesWhatFoundationDoes() {
        var random = SplitMix64(seed: 99)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n-_.".utf8)
        for _ in 0..<20_000 {
            var text = Array(Self.foundationBase64(Self.randomValues(1 + Int(random.next() % 3), &random)).utf8)
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
                for count in 1...3 {
                    #expect(throws: Base64.Failure.self, "\(string)") { try Base64.decodeFloat64(string, count: count) }
                }
                continue
            }
            let count = reference.count / 8
            if reference.count % 8 == 0 {
                let decoded = try? Base64.decodeFloat64(string, count: count)
                #expect(decoded?.withUnsafeBytes { Data($0) } == reference, "\(string)")
            } else {
                #expect(throws: Base64.Failure.wrongLength(bytes: reference.count), "\(string)") {
                    try Base64.decodeFloat64(string, count: count)
                }
            }
        }
    }
}
