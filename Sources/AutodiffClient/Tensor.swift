import Foundation

/// A float64 tensor: row-major `data` of `shape` (`[]` is a scalar).
public struct Tensor: Sendable, Equatable, Codable, CustomStringConvertible {
    public var shape: [Int]
    public var data: [Double]

    /// A tensor of `shape` holding `data` (row-major); `data.count` must be the product of `shape`.
    public init(shape: [Int], data: [Double]) {
        self.shape = shape
        self.data = data
    }

    /// A scalar.
    public init(_ value: Double) {
        self.init(shape: [], data: [value])
    }

    /// A vector.
    public init(_ values: [Double]) {
        self.init(shape: [values.count], data: values)
    }

    /// A matrix from its rows (all of one length).
    public init(rows: [[Double]]) {
        self.init(shape: [rows.count, rows.first?.count ?? 0], data: rows.flatMap { $0 })
    }

    /// The single element of a one-element tensor.
    public var scalar: Double? { data.count == 1 ? data[0] : nil }

    public var description: String { "Tensor(shape: \(shape), data: \(data))" }

    // MARK: Wire format

    /// Written as `{"shape", "dtype": "float64", "base64"}` (little-endian float64), or as `{"shape", "data"}`
    /// when the client is configured with `TensorEncoding.flat`.
    public func encode(to encoder: Encoder) throws {
        let shapeJSON = JSON.array(shape.map { .number(Double($0)) })
        if let key = TensorEncoding.userInfoKey, encoder.userInfo[key] as? TensorEncoding == .flat {
            try JSON.object(["shape": shapeJSON, "data": .array(data.map(JSON.number))]).encode(to: encoder)
            return
        }
        var raw = Data(capacity: data.count * 8)
        for x in data {
            withUnsafeBytes(of: x.bitPattern.littleEndian) { raw.append(contentsOf: $0) }
        }
        try JSON.object([
            "shape": shapeJSON, "dtype": .string("float64"),
            "base64": .string(raw.base64EncodedString()),
        ]).encode(to: encoder)
    }

    /// Reads any of the contract's four forms: a number, nested arrays, `{shape, data}`, `{shape, base64}`.
    public init(from decoder: Decoder) throws {
        let json = try JSON(from: decoder)
        guard let tensor = Tensor(wire: json) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a tensor in any of the wire forms"))
        }
        self = tensor
    }

    init?(wire json: JSON) {
        if let x = json.numberValue {
            self.init(x)
            return
        }
        switch json {
        case .array:
            guard let (shape, data) = Self.nested(json) else { return nil }
            self.init(shape: shape, data: data)
        case .object(let fields):
            guard case .array(let dims)? = fields["shape"] else { return nil }
            let shape = dims.compactMap { $0.numberValue.flatMap { Int(exactly: $0) } }
            guard shape.count == dims.count, shape.allSatisfy({ $0 >= 0 }) else { return nil }
            let count = shape.reduce(1, *)
            if case .string(let text)? = fields["base64"] {
                guard let raw = Data(base64Encoded: text), raw.count == count * 8 else { return nil }
                let data = raw.withUnsafeBytes { bytes in
                    (0..<count).map { Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(
                        fromByteOffset: $0 * 8, as: UInt64.self))) }
                }
                self.init(shape: shape, data: data)
            } else if case .array(let values)? = fields["data"] {
                let data = values.compactMap(\.numberValue)
                guard data.count == values.count, data.count == count else { return nil }
                self.init(shape: shape, data: data)
            } else {
                return nil
            }
        default:
            return nil
        }
    }

    /// Shape and row-major data of rectangular nested arrays, walked level by level (no recursion).
    private static func nested(_ json: JSON) -> ([Int], [Double])? {
        var shape: [Int] = []
        var level: [JSON] = [json]
        while true {
            let arrays = level.compactMap { item -> [JSON]? in
                if case .array(let items) = item { return items }
                return nil
            }
            if arrays.isEmpty {
                let data = level.compactMap(\.numberValue)
                return data.count == level.count ? (shape, data) : nil
            }
            guard arrays.count == level.count, let width = arrays.first?.count,
                arrays.allSatisfy({ $0.count == width })
            else { return nil }
            shape.append(width)
            level = arrays.flatMap { $0 }
            if width == 0 { return (shape, []) }
        }
    }
}

/// How tensors travel: base64 float64 (compact, exact, the default) or flat JSON numbers (readable).
public enum TensorEncoding: String, Sendable {
    case base64
    case flat

    static let userInfoKey = CodingUserInfoKey(rawValue: "autodiffd.tensorEncoding")
}
