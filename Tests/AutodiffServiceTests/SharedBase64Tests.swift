import AutodiffCore
import CBase64
import Foundation
import Synchronization
import Testing

@testable import AutodiffService

/// Texts of `Base64.sharedTextBytes` or more are encoded and decoded in two halves when a worker of
/// the pool is idle (`WorkSharing.shareHalves`). Wherever the halves meet, the text, the bytes and
/// the verdict on a foreign character must be those of one pass over the whole.
@Suite struct SharedBase64Tests {
    /// A worker that is always idle and runs each part it is offered at once, on the offering thread,
    /// so every text over the threshold is split, on every run.
    final class AtOnce: IdleWorkers {
        private let count = Mutex(0)

        /// How many parts it ran.
        var taken: Int { count.withLock { $0 } }

        func offer(_ part: SharedPart) -> Bool {
            count.withLock { $0 += 1 }
            part.run()
            return true
        }

        func takeBack(_ part: SharedPart) -> Bool { false }
    }

    /// Byte counts whose text is just under, at and over the threshold, ending in a full quad, one
    /// padding `=` and two; and one shared in two spans.
    static let byteCounts: [Int] = {
        let atThreshold = Base64.sharedTextBytes / 4 * 3
        return [atThreshold - 3, atThreshold, atThreshold + 1, atThreshold + 2, 3 * atThreshold + 100,
                Base64.sharedSpan + 1_001]
    }()

    /// How many parts `shareHalves` offers for `count` units of work in spans of `Base64.sharedSpan`
    /// rounded down to `alignment`, if `textLength` is long enough to be shared at all.
    static func parts(_ count: Int, alignment: Int, textLength: Int) -> Int {
        guard textLength >= Base64.sharedTextBytes else { return 0 }
        let span = Base64.sharedSpan / alignment * alignment
        return (count + span - 1) / span
    }

    /// `body` on a thread marked as a worker of an `AtOnce` pool; and how many parts that pool ran.
    static func shared<T>(_ body: () -> T) -> (T, taken: Int) {
        let worker = AtOnce()
        var result: T?
        WorkSharing.serve(worker) { result = body() }
        return (result!, worker.taken)
    }

    static func decode(_ text: [UInt8], implementation: Int32) -> (bytes: [UInt8], valid: Bool) {
        text.withUnsafeBufferPointer { input in
            var output = [UInt8](repeating: 0, count: Base64.decodedLength(input))
            let valid = output.withUnsafeMutableBytes { Base64.decode(input, into: $0, implementation: implementation) }
            return (output, valid)
        }
    }

    /// `text` decoded in one pass, by the C function `Base64.decode` calls for each half.
    static func decodeInOnePass(_ text: [UInt8], implementation: Int32) -> (bytes: [UInt8], valid: Bool) {
        text.withUnsafeBufferPointer { input in
            let padding = input.reversed().prefix(2).prefix { $0 == UInt8(ascii: "=") }.count
            var output = [UInt8](repeating: 0, count: Base64.decodedLength(input))
            let valid = output.withUnsafeMutableBufferPointer { bytes in
                autodiffd_base64_decode(input.baseAddress!, input.count, padding, bytes.baseAddress!, implementation)
            }
            return (output, valid != 0)
        }
    }

    /// `text` encoded in one pass.
    static func encodeInOnePass(_ bytes: [UInt8], implementation: Int32) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Base64.encodedLength(byteCount: bytes.count))
        output.withUnsafeMutableBufferPointer { text in
            _ = autodiffd_base64_encode(bytes, bytes.count, text.baseAddress!, implementation)
        }
        return output
    }

    /// How many elements differ (Swift Testing would print every element of two long arrays).
    static func differences<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
        zip(a, b).filter { $0 != $1 }.count + abs(a.count - b.count)
    }

    @Test(arguments: Base64.available) func halvesEncodeAndDecodeAsOnePass(implementation: Int32) {
        var random = SplitMix64(seed: 0xB64)
        for count in Self.byteCounts {
            let bytes = Base64Tests.randomBytes(count, &random)
            let alone = Self.encodeInOnePass(bytes, implementation: implementation)
            #expect(String(decoding: alone, as: UTF8.self) == Data(bytes).base64EncodedString(), "\(count) bytes")
            let (text, encodeParts) = Self.shared { Base64Tests.encode(bytes, implementation: implementation) }
            #expect(encodeParts == Self.parts(count, alignment: 48, textLength: alone.count), "\(count) bytes")
            #expect(Self.differences(text, alone) == 0, "\(count) bytes")

            let ((decoded, valid), decodeParts) = Self.shared { Self.decode(text, implementation: implementation) }
            #expect(decodeParts == Self.parts(text.count, alignment: 64, textLength: text.count), "\(count) bytes")
            #expect(valid, "\(count) bytes")
            #expect(Self.differences(decoded, bytes) == 0, "\(count) bytes")
        }
    }

    /// A character outside the alphabet anywhere before the padding, near where the halves meet
    /// included, makes the shared decoding fail as one pass does.
    @Test(arguments: Base64.available) func aForeignCharacterOnEitherSideOfTheCutIsFound(implementation: Int32) {
        var random = SplitMix64(seed: 0xC07)
        let bytes = Base64Tests.randomBytes(Base64.sharedTextBytes / 4 * 3 + 2, &random)
        let text = Self.encodeInOnePass(bytes, implementation: implementation)
        let cut = text.count / 2 / 64 * 64
        let padding = text.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        #expect(padding == 1)
        for position in [0, cut - 4, cut - 1, cut, cut + 1, cut + 63, text.count - padding - 1] {
            for foreign in [UInt8(ascii: "*"), UInt8(ascii: "="), UInt8(ascii: "\""), 0xC3] {
                var damaged = text
                damaged[position] = foreign
                let alone = Self.decodeInOnePass(damaged, implementation: implementation)
                let (shared, parts) = Self.shared { Self.decode(damaged, implementation: implementation) }
                #expect(parts == 1)
                #expect(shared.valid == alone.valid, "\(foreign) at \(position) of \(text.count)")
                #expect(!alone.valid || Self.differences(shared.bytes, alone.bytes) == 0)
                // Only a `=` before the final one makes two padding characters, which is valid.
                let lastCharacter = position == text.count - padding - 1
                #expect(alone.valid == (foreign == UInt8(ascii: "=") && lastCharacter))
            }
        }
    }

    /// Float64 values sent as one long base64 text come out bit for bit, shared.
    @Test func float64ValuesDecodeTheSameShared() throws {
        var random = SplitMix64(seed: 0xF64)
        let values = Base64Tests.randomValues(Base64.sharedTextBytes / 8 + 5, &random)
        let text = Array(Base64Tests.foundationBase64(values).utf8)
        let (shared, parts) = Self.shared { try? Base64.decodeFloat64(text[...], count: values.count) }
        #expect(parts == 1)
        #expect(Self.differences(shared?.map(\.bitPattern) ?? [], values.map(\.bitPattern)) == 0)
    }

    /// The parse of `bytes` on this thread, and by a thread of an `AtOnce` pool, as text (a failed
    /// expectation then prints a line, not two copies of a megabyte), and how many parts were shared.
    static func parses(_ bytes: [UInt8]) -> (alone: String, shared: String, parts: Int) {
        func parse() -> String {
            do throws(JSONParser.Failure) {
                return describe(try JSONParser.parse(bytes))
            } catch {
                return "\(error)"
            }
        }
        let (shared, parts) = Self.shared { parse() }
        return (parse(), shared, parts)
    }

    /// `value` in a line: long texts by their length and a checksum.
    static func describe(_ value: JSONValue) -> String {
        func checksum(_ bytes: some Sequence<UInt8>) -> UInt64 {
            bytes.reduce(14_695_981_039_346_656_037) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        }
        switch value {
        case .base64Text(let text):
            return "base64Text(\(text.count), \(checksum(text)))"
        case .string(let text):
            return "string(\(text.utf8.count), \(checksum(text.utf8)))"
        case .object(let members):
            return "{" + members.sorted { $0.key < $1.key }.map { "\($0.key): \(describe($0.value))" }
                .joined(separator: ", ") + "}"
        default:
            return "\(value)"
        }
    }

    /// A `"base64"` member's text longer than `JSONParser.sharedSpanProbe` is scanned for its end in
    /// two halves: whatever byte ends it, near the cut or not, the parse is the same as in one pass.
    @Test func theEndOfALongBase64TextIsFoundAsInOnePass() {
        var random = SplitMix64(seed: 0x5CA)
        let count = (JSONParser.sharedSpanProbe + Base64.sharedTextBytes) / 6
        let text = Array(Base64Tests.foundationBase64(Base64Tests.randomValues(count, &random)).utf8)
        let head = Array(#"{"x":{"base64":""#.utf8)
        let body = head + text + Array(#""},"y":[1,2]}"#.utf8)
        let start = head.count
        let rest = body.count - start
        let probe = JSONParser.sharedSpanProbe
        let cut = start + probe + (rest - probe) / 2 / 64 * 64
        let whole = Self.parses(body)
        #expect(whole.parts == 1)
        #expect(whole.alone == "{x: {base64: \(Self.describe(.base64Text(text[...])))}, y: numbers([1.0, 2.0])}")
        #expect(whole.shared == whole.alone)
        let positions = [start + 10, start + probe - 1, start + probe, start + probe + 7, cut - 1, cut, cut + 1,
                         cut + 64, start + text.count - 1, start + text.count]
        for position in positions {
            for byte in [UInt8(ascii: " "), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "A"), 0xE9] {
                var damaged = body
                damaged[position] = byte
                let outcome = Self.parses(damaged)
                #expect(outcome.shared == outcome.alone, "\(byte) at \(position - start) of \(text.count)")
                // A byte that ends the text within the probe leaves nothing to share.
                let endsInProbe = position - start < probe && byte != UInt8(ascii: "A")
                #expect(outcome.parts == (endsInProbe ? 0 : 1), "\(byte) at \(position - start)")
            }
        }
    }

    /// A text a little longer than the probe, followed by a long one: the first is shared too, and
    /// the worker's scan into the second one's text does not change what either is.
    @Test func aShortTextBeforeALongOneParsesTheSame() {
        var random = SplitMix64(seed: 0x5CB)
        let short = Base64Tests.foundationBase64(Base64Tests.randomValues(JSONParser.sharedSpanProbe / 5, &random))
        let long = Base64Tests.foundationBase64(Base64Tests.randomValues(Base64.sharedTextBytes / 4, &random))
        let body = Array(#"{"a":{"base64":"\#(short)"},"b":{"base64":"\#(long)"}}"#.utf8)
        let outcome = Self.parses(body)
        #expect(outcome.parts == 2)
        #expect(outcome.shared == outcome.alone)
        let a = Self.describe(.base64Text(Array(short.utf8)[...])), b = Self.describe(.base64Text(Array(long.utf8)[...]))
        let expected = "{a: {base64: \(a)}, b: {base64: \(b)}}"
        #expect(outcome.alone == expected)
    }
}
