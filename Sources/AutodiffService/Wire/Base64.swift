import Foundation

/// RFC 4648 base64 of little-endian float64 values, straight between a tensor's storage and text
/// with no `Data` in between.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The two characters of each 12-bit value, first in the low byte: half of a 3-byte group at once.
    private static let pairs: [UInt16] = (0..<4096).map { UInt16(alphabet[$0 >> 6]) | UInt16(alphabet[$0 & 0x3F]) << 8 }

    /// The value of each base64 character, 0xFF for any other byte.
    private static let sextets: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    /// The 12 bits of each pair of characters, indexed by the first character in the low byte; 0xF000
    /// where either character is outside the alphabet.
    private static let pairValues: [UInt16] = (0..<65536).map { index in
        let (first, second) = (sextets[index & 0xFF], sextets[index >> 8])
        return first == 0xFF || second == 0xFF ? 0xF000 : UInt16(first) << 6 | UInt16(second)
    }

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
                pairs.withUnsafeBufferPointer { pairs in
                    // Six bytes to eight characters per step, reading eight (so never the last two bytes).
                    while read + 8 <= input.count {
                        let word = UInt64(bigEndian: input.loadUnaligned(fromByteOffset: read, as: UInt64.self))
                        let (a, b) = (UInt64(pairs[Int(word >> 52)]), UInt64(pairs[Int(word >> 40 & 0xFFF)]))
                        let (c, d) = (UInt64(pairs[Int(word >> 28 & 0xFFF)]), UInt64(pairs[Int(word >> 16 & 0xFFF)]))
                        let characters = a | b << 16 | c << 32 | d << 48
                        output.storeBytes(of: characters.littleEndian, toByteOffset: written, as: UInt64.self)
                        read += 6
                        written += 8
                    }
                }
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
            guard input.count % 4 == 0 else { return nil }
            let padding = paddingLength(input)
            let byteCount = input.count / 4 * 3 - padding
            guard byteCount == count * 8 else {
                return validate(input) ? .failure(.wrongLength(bytes: byteCount)) : nil
            }
            var valid = true
            let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                let output = UnsafeMutableRawBufferPointer(buffer)
                valid = decode(input, padding: padding, into: output)
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

    /// Decodes `input` into `output` (exactly its decoded length); false if a character before the
    /// padding is not in the alphabet (`output` then holds garbage).
    private static func decode(
        _ input: UnsafeBufferPointer<UInt8>, padding: Int, into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        var read = 0
        var written = 0
        let fullQuads = padding == 0 ? input.count / 4 : input.count / 4 - 1
        // Eight characters to six bytes per step, two characters per lookup, writing eight bytes (so
        // never the last two). Any pair with a character outside the alphabet sets bits above twelve.
        var pairsOutside: UInt16 = 0
        pairValues.withUnsafeBufferPointer { pairs in
            let raw = UnsafeRawBufferPointer(input)
            while read + 8 <= fullQuads * 4, written + 8 <= output.count {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: read, as: UInt64.self))
                let (a, b) = (pairs[Int(word & 0xFFFF)], pairs[Int(word >> 16 & 0xFFFF)])
                let (c, d) = (pairs[Int(word >> 32 & 0xFFFF)], pairs[Int(word >> 48)])
                pairsOutside |= a | b | c | d
                let bits = UInt64(a) << 36 | UInt64(b) << 24 | UInt64(c) << 12 | UInt64(d)
                output.storeBytes(of: (bits << 16).bigEndian, toByteOffset: written, as: UInt64.self)
                read += 8
                written += 6
            }
        }
        guard pairsOutside & 0xF000 == 0 else { return false }
        return sextets.withUnsafeBufferPointer { table in
            // Any character outside the alphabet maps to 0xFF, which sets bits above the six of a sextet.
            var outside: UInt32 = 0
            for _ in read / 4..<fullQuads {
                let (a, b) = (UInt32(table[Int(input[read])]), UInt32(table[Int(input[read + 1])]))
                let (c, d) = (UInt32(table[Int(input[read + 2])]), UInt32(table[Int(input[read + 3])]))
                outside |= a | b | c | d
                let chunk = a << 18 | b << 12 | c << 6 | d
                output[written] = UInt8(truncatingIfNeeded: chunk >> 16)
                output[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8)
                output[written + 2] = UInt8(truncatingIfNeeded: chunk)
                read += 4
                written += 3
            }
            if padding > 0 {
                let (a, b) = (UInt32(table[Int(input[read])]), UInt32(table[Int(input[read + 1])]))
                let third = padding == 1 ? UInt32(table[Int(input[read + 2])]) : 0
                outside |= a | b | third
                let chunk = a << 18 | b << 12 | third << 6
                output[written] = UInt8(truncatingIfNeeded: chunk >> 16)
                if padding == 1 { output[written + 1] = UInt8(truncatingIfNeeded: chunk >> 8) }
            }
            return outside & ~0x3F == 0
        }
    }
}
