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
