import AutodiffCore

/// A response document. Objects keep the order they are built in, so responses read in the order
/// the contract lists their fields; tensors are written straight from their storage when serialized.
indirect enum JSONOutput: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    /// A count or size, written without a fraction.
    case integer(Int)
    case string(String)
    case array([JSONOutput])
    case object([(String, JSONOutput)])
    /// A tensor in the wire form the request asked for.
    case tensor(Tensor, TensorEncoding)

    /// An object from a dictionary, keys sorted (for canonical forms and maps without natural order).
    static func sortedObject(_ fields: [String: JSONOutput]) -> JSONOutput {
        .object(fields.sorted { $0.key < $1.key })
    }

    /// Serializes to UTF-8 JSON without insignificant whitespace.
    func serialized() throws(AutodiffError) -> [UInt8] {
        var writer = JSONWriter()
        try writer.write(self)
        return writer.bytes
    }
}

/// Appends JSON text to a byte array.
///
/// Numbers use Swift's shortest round-tripping representation, so every float64 survives a
/// round trip exactly; non-finite numbers are written as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    mutating func write(_ value: JSONOutput) throws(AutodiffError) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .number(let x): writeNumber(x)
        case .integer(let n): append(String(n))
        case .string(let s): writeString(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (position, item) in items.enumerated() {
                if position > 0 { bytes.append(UInt8(ascii: ",")) }
                try write(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let fields):
            bytes.append(UInt8(ascii: "{"))
            for (position, (key, item)) in fields.enumerated() {
                if position > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(key)
                bytes.append(UInt8(ascii: ":"))
                try write(item)
            }
            bytes.append(UInt8(ascii: "}"))
        case .tensor(let tensor, let encoding):
            try writeTensor(tensor, encoding: encoding)
        }
    }

    mutating func writeNumber(_ x: Double) {
        if x.isNaN {
            append("\"NaN\"")
        } else if x.isInfinite {
            append(x > 0 ? "\"Infinity\"" : "\"-Infinity\"")
        } else {
            append(x.description)
        }
    }

    mutating func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                append("\\u00")
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func append(byte: UInt8) {
        bytes.append(byte)
    }
}
