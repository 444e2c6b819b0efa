import AutodiffCore
import CDragonbox
import NIOCore

extension JSONWriter {
    /// The most `[]` leaves a nested rendering of an empty tensor may hold (`shape [1e9, 0]` would be 2 GB).
    static let maxEmptyLeaves = 16_777_216

    /// Writes `tensor` in `encoding`, streaming straight from its storage.
    mutating func writeTensor(_ tensor: Tensor, encoding: TensorEncoding) throws(AutodiffError) {
        switch encoding {
        case .nested:
            try writeNested(tensor)
        case .flat:
            append("{\"shape\":")
            writeShape(tensor.shape)
            append(",\"data\":[")
            writeNumbers(tensor.data[...])
            append("]}")
        case .base64:
            append("{\"shape\":")
            writeShape(tensor.shape)
            append(",\"dtype\":\"float64\",\"base64\":\"")
            writeBase64(tensor.data)
            append("\"}")
        }
    }

    private mutating func writeShape(_ shape: [Int]) {
        append(byte: UInt8(ascii: "["))
        for (axis, size) in shape.enumerated() {
            if axis > 0 { append(byte: UInt8(ascii: ",")) }
            append(String(size))
        }
        append(byte: UInt8(ascii: "]"))
    }

    /// Nested arrays, written iteratively so no tensor rank can exhaust the stack.
    private mutating func writeNested(_ tensor: Tensor) throws(AutodiffError) {
        guard tensor.rank > 0 else {
            writeNumber(tensor.data.first ?? .nan)
            return
        }
        if let zeroAxis = tensor.shape.firstIndex(of: 0) {
            // Only the axes before the first empty one have elements, each an empty array.
            let outer = Array(tensor.shape[..<zeroAxis])
            guard let leaves = Shape.elementCount(outer), leaves <= Self.maxEmptyLeaves else {
                throw .limitExceeded(
                    "an empty tensor of shape \(tensor.shape) is too large to write as nested arrays; "
                        + "use options.encoding \"flat\"")
            }
            writeGrid(shape: outer, leaves: leaves) { writer, _ in writer.append("[]") }
        } else {
            // Rows of the last axis are written whole, the axes before it as brackets around them.
            let rowLength = tensor.shape[tensor.rank - 1]
            let rows = Array(tensor.shape.dropLast())
            writeGrid(shape: rows, leaves: tensor.count / rowLength) { writer, row in
                writer.append(byte: UInt8(ascii: "["))
                writer.writeNumbers(tensor.data[row * rowLength..<(row + 1) * rowLength])
                writer.append(byte: UInt8(ascii: "]"))
            }
        }
    }

    /// How many values `writeNumbers` and `writeBase64` write in one step (about 5 ms of printing):
    /// a step's text fits a buffer of `pieceCapacity`, and a multiple of 3 values is a whole number
    /// of base64 quads (no padding).
    static let valuesPerStep = 3 << 16

    /// `values` separated by commas, as `writeNumber` writes each, a step at a time in one pass over
    /// the buffer. Of two steps in a row, the second is printed by an idle worker when there is one
    /// (`WorkSharing.share`), into a buffer of its own that becomes the next piece of the text.
    mutating func writeNumbers(_ values: ArraySlice<Double>) {
        var start = values.startIndex
        repeat {
            if start > values.startIndex { append(byte: UInt8(ascii: ",")) }
            let middle = min(start + Self.valuesPerStep, values.endIndex)
            let end = min(middle + Self.valuesPerStep, values.endIndex)
            if middle < end {
                let later = PrintedNumbers()
                let shared = values[middle..<end].withUnsafeBufferPointer { second in
                    let second = SharedNumbers(values: second)
                    return WorkSharing.share({ later.print(second.values) }) { printNumbers(values[start..<middle]) }
                }
                append(byte: UInt8(ascii: ","))
                if shared, let text = later.text {
                    adopt(text)
                } else {
                    printNumbers(values[middle..<end])
                }
            } else {
                printNumbers(values[start..<middle])
            }
            start = end
        } while start < values.endIndex
    }

    /// `values` separated by commas, at the end of `buffer` (grown if need be).
    private mutating func printNumbers(_ values: ArraySlice<Double>) {
        room(Self.printedSize(values.count))
        values.withUnsafeBufferPointer { Self.print($0, into: &buffer) }
    }

    /// `values` separated by commas, at the end of `buffer` (grown if it has less room than
    /// `printedSize`): the writer's own steps and the ones an idle worker prints.
    fileprivate static func print(_ values: UnsafeBufferPointer<Double>, into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: printedSize(values.count)) { output in
            guard let input = values.baseAddress, let base = output.baseAddress else { return 0 }
            return autodiffd_format_doubles(input, values.count, base.assumingMemoryBound(to: CChar.self))
        }
    }

    /// The most bytes `count` values take as printed, with the room the printer wants after the last.
    fileprivate static func printedSize(_ count: Int) -> Int {
        count * Int(AUTODIFFD_DOUBLE_LIST_BYTES_PER_VALUE) + Int(AUTODIFFD_DOUBLE_TEXT_MAX)
    }

    /// The base64 text of `values` as little-endian float64 bytes, a step at a time.
    private mutating func writeBase64(_ values: [Double]) {
        var start = 0
        repeat {
            let end = min(start + Self.valuesPerStep, values.count)
            let length = Base64.encodedLength(byteCount: (end - start) * 8)
            room(length)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { output in
                Base64.encode(values[start..<end], into: output)
            }
            start = end
        } while start < values.count
    }

    /// Brackets for `shape` around `leaves` row-major leaves.
    private mutating func writeGrid(shape: [Int], leaves: Int, leaf: (inout JSONWriter, Int) -> Void) {
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        repeatByte(UInt8(ascii: "["), rank)
        for position in 0..<leaves {
            if position > 0 {
                var carried = 0
                var axis = rank - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] { break }
                    index[axis] = 0
                    carried += 1
                    axis -= 1
                }
                repeatByte(UInt8(ascii: "]"), carried)
                append(byte: UInt8(ascii: ","))
                repeatByte(UInt8(ascii: "["), carried)
            }
            leaf(&self, position)
        }
        repeatByte(UInt8(ascii: "]"), rank)
    }

    private mutating func repeatByte(_ byte: UInt8, _ count: Int) {
        buffer.writeRepeatingByte(byte, count: count)
    }
}

/// Numbers another worker prints while the job that owns them waits for it (`WorkSharing.share`).
private struct SharedNumbers: @unchecked Sendable {
    let values: UnsafeBufferPointer<Double>
}

/// Text printed by another worker into a buffer of its own, read once `WorkSharing.share` has
/// returned (which orders the write before the read).
private final class PrintedNumbers: @unchecked Sendable {
    private(set) var text: ByteBuffer?

    func print(_ values: UnsafeBufferPointer<Double>) {
        var buffer = ByteBufferAllocator().buffer(capacity: JSONWriter.printedSize(values.count))
        JSONWriter.print(values, into: &buffer)
        text = buffer
    }
}
