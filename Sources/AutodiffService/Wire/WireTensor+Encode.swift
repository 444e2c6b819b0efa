import AutodiffCore
import Foundation

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
            for (position, x) in tensor.data.enumerated() {
                if position > 0 { append(byte: UInt8(ascii: ",")) }
                writeNumber(x)
            }
            append("]}")
        case .base64:
            append("{\"shape\":")
            writeShape(tensor.shape)
            append(",\"dtype\":\"float64\",\"base64\":\"")
            var raw = Data(capacity: tensor.count * 8)
            for x in tensor.data {
                withUnsafeBytes(of: x.bitPattern.littleEndian) { raw.append(contentsOf: $0) }
            }
            append(raw.base64EncodedString())
            append("\"}")
        }
    }

    private mutating func writeShape(_ shape: [Int]) {
        append("[" + shape.map(String.init).joined(separator: ",") + "]")
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
            writeGrid(shape: tensor.shape, leaves: tensor.count) { writer, index in
                writer.writeNumber(tensor.data[index])
            }
        }
    }

    /// Brackets for `shape` around `leaves` row-major leaves.
    private mutating func writeGrid(shape: [Int], leaves: Int, leaf: (inout JSONWriter, Int) -> Void) {
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        append(String(repeating: "[", count: rank))
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
                append(String(repeating: "]", count: carried) + "," + String(repeating: "[", count: carried))
            }
            leaf(&self, position)
        }
        append(String(repeating: "]", count: rank))
    }
}
