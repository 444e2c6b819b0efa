import Foundation

/// RFC 4648 base64 of little-endian float64 values, straight between a tensor's storage and text
/// with no `Data` in between.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The value of each base64 character, 0xFF for any other byte.
    private static let sextets: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    /// The length of the encoding of `byteCount` bytes, padding included.
    static func encodedLength(byteCount: Int) -> Int {
        (byteCount + 2) / 3 * 4
    }

    /// Encodes `values` as little-endian float64 bytes into `output`, which holds at least
    /// `encodedLength(byteCount: values.count * 8)` bytes; returns how many it wrote.
    static func encode(_ values: [Double], into output: UnsafeMutableRawBufferPointer) -> Int {
        #if _endian(big)
        let values = values.map { Double(bitPattern: $0.bitPattern.byteSwapped) }
        #endif
        return values.withUnsafeBytes { input in
            alphabet.withUnsafeBufferPointer { alphabet in
                var read = 0
                var written = 0
                while read + 3 <= input.count {
                    let chunk = UInt32(input[read]) << 16 | UInt32(input[read + 1]) << 8 | UInt32(input[read + 2])
                    output[written] = alphabet[Int(chunk >> 18)]
                    output[written + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                    output[written + 2] = alphabet[Int(chunk >> 6 & 0x3F)]
                    output[written + 3] = alphabet[Int(chunk & 0x3F)]
                    read += 3
                    written += 4
                }
                let left = input.count - read
                if left > 0 {
                    let chunk = UInt32(input[read]) << 16 | (left == 2 ? UInt32(input[read + 1]) << 8 : 0)
                    output[written] = alphabet[Int(chunk >> 18)]
                    output[written + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                    output[written + 2] = left == 2 ? alphabet[Int(chunk >> 6 & 0x3F)] : UInt8(ascii: "=")
                    output[written + 3] = UInt8(ascii: "=")
                    written += 4
                }
                return written
            }
        }
    }

    /// Why base64 text is not `count` float64 values.
    enum Failure: Error, Equatable {
        /// Not RFC 4648 base64 (characters outside the alphabet, bad padding or length).
        case invalid
        /// Well-formed, but decodes to this many bytes rather than `count * 8`.
        case wrongLength(bytes: Int)
    }

    /// Decodes base64 of little-endian float64 values. Padded RFC 4648 text is decoded here, straight
    /// into the array; anything else goes to Foundation's `Data(base64Encoded:)`, which the service
    /// used before and which tolerates some stray padding (`"AAAA="`), so exactly the same texts are
    /// accepted as before.
    static func decodeFloat64(_ text: String, count: Int) throws(Failure) -> [Double] {
        var text = text
        let result = text.withUTF8 { input -> Result<[Double], Failure>? in
            guard input.count % 4 == 0, validate(input) else { return nil }
            let padding = paddingLength(input)
            let byteCount = input.count / 4 * 3 - padding
            guard byteCount == count * 8 else { return .failure(.wrongLength(bytes: byteCount)) }
            let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                let output = UnsafeMutableRawBufferPointer(buffer)
                decode(input, padding: padding, into: output)
                initialized = count
            }
            #if _endian(big)
            return .success(values.map { Double(bitPattern: $0.bitPattern.byteSwapped) })
            #else
            return .success(values)
            #endif
        }
        if let result { return try result.get() }
        guard let bytes = Data(base64Encoded: text) else { throw .invalid }
        guard bytes.count == count * 8 else { throw .wrongLength(bytes: bytes.count) }
        return bytes.withUnsafeBytes { raw in
            (0..<count).map { index in
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
            }
        }
    }

    /// How many `=` end `input` (0, 1 or 2); a lone `=` before a final character is caught later.
    private static func paddingLength(_ input: UnsafeBufferPointer<UInt8>) -> Int {
        guard input.count >= 4, input[input.count - 1] == UInt8(ascii: "=") else { return 0 }
        return input[input.count - 2] == UInt8(ascii: "=") ? 2 : 1
    }

    /// Whether `input` (a multiple of 4 long) is padded RFC 4648 base64.
    private static func validate(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
        let padding = paddingLength(input)
        return sextets.withUnsafeBufferPointer { table in
            input.prefix(input.count - padding).allSatisfy { table[Int($0)] != 0xFF }
        }
    }

    /// Decodes validated `input` into `output` (exactly its decoded length).
    private static func decode(
        _ input: UnsafeBufferPointer<UInt8>, padding: Int, into output: UnsafeMutableRawBufferPointer
    ) {
        sextets.withUnsafeBufferPointer { table in
            var read = 0
            var written = 0
            let fullQuads = padding == 0 ? input.count / 4 : input.count / 4 - 1
            for _ in 0..<fullQuads {
                let chunk = UInt32(table[Int(input[read])]) << 18 | UInt32(table[Int(input[read + 1])]) << 12
                    | UInt32(table[Int(input[read + 2])]) << 6 | UInt32(table[Int(input[read + 3])])
                output[written] = UInt8(truncatingIfNeeded: chunk >> 16)
                output[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8)
                output[written + 2] = UInt8(truncatingIfNeeded: chunk)
                read += 4
                written += 3
            }
            if padding > 0 {
                let third = padding == 1 ? UInt32(table[Int(input[read + 2])]) : 0
                let chunk =
                    UInt32(table[Int(input[read])]) << 18 | UInt32(table[Int(input[read + 1])]) << 12 | third << 6
                output[written] = UInt8(truncatingIfNeeded: chunk >> 16)
                if padding == 1 { output[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8) }
            }
        }
    }
}
