import AutodiffCore
import CBase64
import Foundation

/// RFC 4648 base64 of little-endian float64 values, straight between a tensor's storage and text
/// with no `Data` in between. The work is done by `CBase64`, with AVX2 or AVX-512 where the CPU has
/// them; every implementation accepts and writes exactly the same texts.
enum Base64 {
    /// The implementations of `CBase64` this CPU runs, slowest (plain C) first.
    static let available: [Int32] = [AUTODIFFD_BASE64_SCALAR, AUTODIFFD_BASE64_AVX2, AUTODIFFD_BASE64_AVX512]
        .map { Int32($0) }.filter { autodiffd_base64_supports($0) != 0 }

    /// The implementation the service uses.
    static let fastest = available.last ?? Int32(AUTODIFFD_BASE64_SCALAR)

    /// The fewest characters of a text encoded or decoded in two halves at once when a worker of the
    /// pool is idle (`WorkSharing.shareHalves`): a mebibyte takes 0.1–0.3 ms here, more than handing
    /// a half to a worker costs. The halves write apart, so the text and the bytes are the same.
    static let sharedTextBytes = 1 << 20

    /// The bytes (encoding) or characters (decoding) shared a span at a time, of which a helping
    /// worker takes half: about a millisecond, so a call arriving meanwhile waits no longer for it.
    static let sharedSpan = 8 << 20

    /// The length of the encoding of `byteCount` bytes, padding included.
    static func encodedLength(byteCount: Int) -> Int {
        (byteCount + 2) / 3 * 4
    }

    /// Encodes `values` as little-endian float64 bytes into `output`, which holds at least
    /// `encodedLength(byteCount: values.count * 8)` bytes; returns how many it wrote.
    static func encode(
        _ values: ArraySlice<Double>, into output: UnsafeMutableRawBufferPointer, implementation: Int32 = fastest
    ) -> Int {
        #if _endian(big)
        let values = values.map { Double(bitPattern: $0.bitPattern.byteSwapped) }[...]
        #endif
        return values.withUnsafeBytes { encode(bytes: $0, into: output, implementation: implementation) }
    }

    /// Encodes `bytes` into `output`, which holds at least `encodedLength(byteCount: bytes.count)`
    /// bytes; returns how many it wrote.
    static func encode(
        bytes: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, implementation: Int32 = fastest
    ) -> Int {
        let length = encodedLength(byteCount: bytes.count)
        precondition(output.count >= length)
        guard let input = bytes.baseAddress, let base = output.baseAddress else { return 0 }
        let source = input.assumingMemoryBound(to: UInt8.self)
        let text = base.assumingMemoryBound(to: UInt8.self)
        guard length >= sharedTextBytes else {
            return autodiffd_base64_encode(source, bytes.count, text, implementation)
        }
        // Every part but the last is whole 48-byte blocks, so its text is whole quads without
        // padding, and each part's text starts where the whole text has it.
        _ = WorkSharing.shareHalves(of: bytes.count, alignment: 48, span: sharedSpan, deadline: nil) { range, _ in
            let quads = text + range.lowerBound / 3 * 4
            _ = autodiffd_base64_encode(source + range.lowerBound, range.count, quads, implementation)
            return true
        }
        return length
    }

    /// Why base64 text is not `count` float64 values.
    enum Failure: Error, Equatable {
        /// Not RFC 4648 base64 (characters outside the alphabet, bad padding or length).
        case invalid
        /// Well-formed, but decodes to this many bytes rather than `count * 8`.
        case wrongLength(bytes: Int)
    }

    /// Decodes base64 (UTF-8 `text`) of little-endian float64 values. Padded RFC 4648 text is decoded
    /// here, straight into the array; anything else goes to Foundation's `Data(base64Encoded:)`, which
    /// the service used before and which tolerates some stray padding (`"AAAA="`), so exactly the same
    /// texts are accepted as before.
    static func decodeFloat64(
        _ text: ArraySlice<UInt8>, count: Int, implementation: Int32 = fastest
    ) throws(Failure) -> [Double] {
        let result = text.withUnsafeBufferPointer { input -> Result<[Double], Failure>? in
            guard input.count % 4 == 0 else { return nil }
            let byteCount = decodedLength(input)
            guard byteCount == count * 8 else {
                return validate(input) ? .failure(.wrongLength(bytes: byteCount)) : nil
            }
            var valid = true
            let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                valid = decode(input, into: UnsafeMutableRawBufferPointer(buffer), implementation: implementation)
                initialized = count
            }
            guard valid else { return nil }
            #if _endian(big)
            return .success(values.map { Double(bitPattern: $0.bitPattern.byteSwapped) })
            #else
            return .success(values)
            #endif
        }
        if let result { return try result.get() }
        guard let bytes = Data(base64Encoded: Data(text)) else { throw .invalid }
        guard bytes.count == count * 8 else { throw .wrongLength(bytes: bytes.count) }
        return bytes.withUnsafeBytes { raw in
            (0..<count).map { index in
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
            }
        }
    }

    /// How many bytes `input` (a multiple of 4 long) holds if it is padded RFC 4648 base64.
    static func decodedLength(_ input: UnsafeBufferPointer<UInt8>) -> Int {
        input.count / 4 * 3 - paddingLength(input)
    }

    /// Decodes `input` (a multiple of 4 long) into `output` (exactly `decodedLength(input)` bytes);
    /// false if a character before the padding is not in the alphabet (`output` then holds garbage).
    static func decode(
        _ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableRawBufferPointer, implementation: Int32 = fastest
    ) -> Bool {
        precondition(input.count % 4 == 0 && output.count == decodedLength(input))
        guard let text = input.baseAddress, let base = output.baseAddress else { return true }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let padding = paddingLength(input)
        guard input.count >= sharedTextBytes else {
            return autodiffd_base64_decode(text, input.count, padding, bytes, implementation) != 0
        }
        // Every part but the last is whole 64-character blocks: the padding, if any, is in the last,
        // and each part's bytes go where the whole text's do.
        return WorkSharing.shareHalves(of: input.count, alignment: 64, span: sharedSpan, deadline: nil) { range, _ in
            let characters = text + range.lowerBound
            let start = bytes + range.lowerBound / 4 * 3
            let partPadding = range.upperBound == input.count ? padding : 0
            return autodiffd_base64_decode(characters, range.count, partPadding, start, implementation) != 0
        }
    }

    /// How many bytes from the start of `text` are base64 characters (the alphabet and `=`).
    static func span(_ text: UnsafeBufferPointer<UInt8>, implementation: Int32 = fastest) -> Int {
        guard let base = text.baseAddress else { return 0 }
        return autodiffd_base64_span(base, text.count, implementation)
    }

    /// How many `=` end `input` (0, 1 or 2); a lone `=` before a final character is caught later.
    private static func paddingLength(_ input: UnsafeBufferPointer<UInt8>) -> Int {
        guard input.count >= 4, input[input.count - 1] == UInt8(ascii: "=") else { return 0 }
        return input[input.count - 2] == UInt8(ascii: "=") ? 2 : 1
    }

    /// Whether `input` (a multiple of 4 long) is padded RFC 4648 base64.
    private static func validate(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
        input.prefix(input.count - paddingLength(input)).allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default:
                false
            }
        }
    }
}
