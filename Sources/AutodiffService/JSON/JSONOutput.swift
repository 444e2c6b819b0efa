import AutodiffCore
import CDragonbox
import Hummingbird

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
        Array(try serializedBuffer().readableBytesView)
    }

    /// Serializes straight into a buffer sized up front, ready to be a response body.
    func serializedBuffer() throws(AutodiffError) -> ByteBuffer {
        JSONWriter.joined(try serializedPieces())
    }

    /// Serializes straight into buffers sized up front, whose bytes in order are the document: one
    /// buffer, or several for a document past `JSONWriter.pieceCapacity` (see there).
    func serializedPieces() throws(AutodiffError) -> [ByteBuffer] {
        var writer = JSONWriter(capacity: estimatedSize)
        try writer.write(self)
        return writer.pieces
    }

    /// About how many bytes the serialized form takes: exact for base64 tensors, an upper bound for
    /// decimal ones (a float64 takes at most 24 bytes and a separator, and the printer wants
    /// `AUTODIFFD_DOUBLE_TEXT_MAX` bytes of room after the last), so big tensors are written without
    /// the buffer growing.
    var estimatedSize: Int {
        switch self {
        case .null, .bool, .number, .integer: 24
        case .string(let s): s.utf8.count + 2
        case .array(let items): items.reduce(2) { $0 + $1.estimatedSize + 1 }
        case .object(let fields): fields.reduce(2) { $0 + $1.0.utf8.count + 4 + $1.1.estimatedSize }
        case .tensor(let tensor, let encoding):
            switch encoding {
            case .base64: 64 + 20 * tensor.rank + (tensor.count * 8 + 2) / 3 * 4
            case .flat, .nested: 32 + 22 * tensor.rank + 25 * tensor.count + Int(AUTODIFFD_DOUBLE_TEXT_MAX)
            }
        }
    }
}

/// Appends JSON text to a byte buffer.
///
/// Numbers are written as Swift's `Double.description` writes them (the shortest text that reads back
/// to the same float64, so every float64 survives a round trip exactly), by `CDragonbox` straight into
/// the buffer; non-finite numbers are written as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
struct JSONWriter {
    /// The most one buffer is given up front, or grown to by a tensor's writer (`room(_:)`), which
    /// past it starts the next buffer instead. A `ByteBuffer`'s capacity is a power of two, and a block
    /// of 64 MiB no longer fits a thread's heap in glibc: it would be `mmap`ed for the call and
    /// unmapped after it, every page faulted in again by the next (see `MallocPolicy`).
    static let pieceCapacity = 32 << 20

    /// The buffer being written; `finished` holds the full ones before it.
    var buffer: ByteBuffer
    private var finished: [ByteBuffer] = []
    /// About how many bytes the whole text takes, to size the next buffer.
    private let estimate: Int

    init(capacity: Int = 256) {
        estimate = capacity
        buffer = ByteBufferAllocator().buffer(capacity: min(capacity, Self.pieceCapacity))
    }

    /// The text written, in order.
    var pieces: [ByteBuffer] { finished + [buffer] }

    /// The bytes of `pieces` in order, as one buffer (the first piece itself when it is the only one).
    static func joined(_ pieces: [ByteBuffer]) -> ByteBuffer {
        guard var whole = pieces.first else { return ByteBuffer() }
        for piece in pieces.dropFirst() { whole.writeImmutableBuffer(piece) }
        return whole
    }

    /// Makes room for `count` more bytes and a little after them (the punctuation that follows): in
    /// `buffer` if it has it or can grow to it within `pieceCapacity`, else in a new buffer that then
    /// takes the writes.
    mutating func room(_ count: Int) {
        let wanted = count + 1024
        guard buffer.writableBytes < wanted, buffer.readableBytes > 0,
            buffer.readableBytes + wanted > Self.pieceCapacity
        else { return }
        finished.append(buffer)
        startBuffer(atLeast: wanted)
    }

    /// Ends `buffer` with `piece`, text written elsewhere, after it; what is written next goes to a
    /// new buffer.
    mutating func adopt(_ piece: ByteBuffer) {
        finished.append(buffer)
        finished.append(piece)
        startBuffer(atLeast: 1024)
    }

    /// A new `buffer` after the finished ones, sized for the rest of the estimate (at least
    /// `minimum`, at most `pieceCapacity`).
    private mutating func startBuffer(atLeast minimum: Int) {
        let written = finished.reduce(0) { $0 + $1.readableBytes }
        buffer = ByteBufferAllocator().buffer(capacity: min(max(minimum, estimate - written), Self.pieceCapacity))
    }

    mutating func write(_ value: JSONOutput) throws(AutodiffError) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .number(let x): writeNumber(x)
        case .integer(let n): append(String(n))
        case .string(let s): writeString(s)
        case .array(let items):
            append(byte: UInt8(ascii: "["))
            for (position, item) in items.enumerated() {
                if position > 0 { append(byte: UInt8(ascii: ",")) }
                try write(item)
            }
            append(byte: UInt8(ascii: "]"))
        case .object(let fields):
            append(byte: UInt8(ascii: "{"))
            for (position, (key, item)) in fields.enumerated() {
                if position > 0 { append(byte: UInt8(ascii: ",")) }
                writeString(key)
                append(byte: UInt8(ascii: ":"))
                try write(item)
            }
            append(byte: UInt8(ascii: "}"))
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
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(AUTODIFFD_DOUBLE_TEXT_MAX)) { output in
                guard let base = output.baseAddress else { return 0 }
                return autodiffd_format_double(x, base.assumingMemoryBound(to: CChar.self))
            }
        }
    }

    mutating func writeString(_ string: String) {
        append(byte: UInt8(ascii: "\""))
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            buffer.writeString(string)
            append(byte: UInt8(ascii: "\""))
            return
        }
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
                append(byte: hex[Int(byte >> 4)])
                append(byte: hex[Int(byte & 0x0F)])
            default: append(byte: byte)
            }
        }
        append(byte: UInt8(ascii: "\""))
    }

    mutating func append(_ text: String) {
        buffer.writeString(text)
    }

    mutating func append(byte: UInt8) {
        buffer.writeInteger(byte)
    }
}
