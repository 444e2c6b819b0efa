import AutodiffCore

/// How tensors are written in a response (`options.encoding`).
enum TensorEncoding: String, Sendable, CaseIterable {
    /// Nested arrays; a scalar is a bare number.
    case nested
    /// `{"shape": [...], "data": [...]}`, row-major.
    case flat
    /// `{"shape": [...], "dtype": "float64", "base64": "..."}`, little-endian float64.
    case base64

    /// What writing one element costs at most, counted against `--max-bytes` before a call runs: the
    /// longest decimal float64 with its separator, or 8 bytes as base64 text.
    var renderedBytesPerElement: Int {
        switch self {
        case .nested, .flat: 32
        case .base64: 16
        }
    }
}

/// Reads tensors in any of the contract's wire forms:
///
/// ```
/// 3.5                                        shape []
/// [[1, 2], [3, 4]]                           shape [2, 2]   ([] is shape [0])
/// {"shape": [2, 2], "data": [1, 2, 3, 4]}    row-major
/// {"shape": [2], "dtype": "float64", "base64": "AAAAAAAA8D8AAAAAAAAAQA=="}
/// ```
///
/// `"NaN"`, `"Infinity"` and `"-Infinity"` may stand for any number.
enum WireTensor {
    /// Decodes `value`; `what` names it in messages (`value of input "x"`), `node` is reported as at fault.
    static func decode(
        _ value: JSONValue, what: String, node: String?, limits: Limits
    ) throws(AutodiffError) -> Tensor {
        switch value {
        case .number(let x):
            return Tensor(scalar: x)
        case .string(let text):
            guard let x = nonFinite(text) else {
                throw .invalidRequest(
                    "\(what) must be a tensor (a number, nested arrays, {\"shape\",\"data\"} or "
                        + "{\"shape\",\"dtype\",\"base64\"}), got the string \"\(text.prefix(40))\"", node: node)
            }
            return Tensor(scalar: x)
        case .base64Text(let bytes):
            return try decode(.string(String(decoding: bytes, as: UTF8.self)), what: what, node: node, limits: limits)
        case .numbers(let xs):
            try checkCount(xs.count, what: what, node: node, limits: limits)
            return try Tensor(shape: [xs.count], data: xs)
        case .grid(let shape, let data):
            try checkCount(data.count, what: what, node: node, limits: limits)
            return try Tensor(shape: shape, data: data)
        case .array:
            return try decodeNested(value, what: what, node: node, limits: limits)
        case .object(let fields):
            return try decodeObject(fields, what: what, node: node, limits: limits)
        case .null, .bool:
            throw .invalidRequest("\(what) must be a tensor, got \(value.kindDescription)", node: node)
        }
    }

    /// The value of `"NaN"`, `"Infinity"` or `"-Infinity"`, or `nil` for any other string.
    static func nonFinite(_ text: String) -> Double? {
        switch text {
        case "NaN": .nan
        case "Infinity": .infinity
        case "-Infinity": -.infinity
        default: nil
        }
    }

    /// A number or one of the non-finite spellings.
    static func scalar(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let x): x
        case .string(let text): nonFinite(text)
        default: nil
        }
    }

    // MARK: Nested arrays

    /// Reads the shape along the first elements, then flattens, checking every level is rectangular.
    private static func decodeNested(
        _ value: JSONValue, what: String, node: String?, limits: Limits
    ) throws(AutodiffError) -> Tensor {
        var shape: [Int] = []
        var probe = value
        descend: while true {
            switch probe {
            case .numbers(let xs):
                shape.append(xs.count)
                break descend
            case .grid(let packed, _):
                shape.append(contentsOf: packed)
                break descend
            case .array(let items):
                shape.append(items.count)
                guard let first = items.first else { break descend }
                probe = first
            default:
                break descend
            }
        }
        guard let count = Shape.elementCount(shape) else {
            throw .invalidRequest("\(what) is too large to describe", node: node)
        }
        try checkCount(count, what: what, node: node, limits: limits)
        var data: [Double] = []
        data.reserveCapacity(count)
        try flatten(value, shape: shape, depth: 0, into: &data, what: what, node: node)
        return try Tensor(shape: shape, data: data)
    }

    /// Depth is bounded by the parser's nesting limit, so this recursion is too.
    private static func flatten(
        _ value: JSONValue, shape: [Int], depth: Int, into data: inout [Double], what: String, node: String?
    ) throws(AutodiffError) {
        if depth == shape.count {
            guard let x = scalar(value) else {
                throw .invalidRequest(
                    "\(what): nested arrays must be rectangular with numbers at depth \(depth), "
                        + "found \(value.kindDescription) there", node: node)
            }
            data.append(x)
            return
        }
        let got: Int
        switch value {
        case .numbers(let xs) where depth == shape.count - 1:
            got = xs.count
            if got == shape[depth] {
                data.append(contentsOf: xs)
                return
            }
        case .numbers(let xs):
            got = xs.count
            if got > 0 {
                throw .invalidRequest(
                    "\(what): ragged nested arrays: expected arrays at depth \(depth + 1), found numbers", node: node)
            }
        case .grid(let packed, let xs) where packed[...] == shape[depth...]:
            data.append(contentsOf: xs)
            return
        case .grid:
            // Not the expected shape: walk it level by level, as an array of arrays, for the message.
            try flatten(
                .array(value.arrayElements ?? []), shape: shape, depth: depth, into: &data, what: what, node: node)
            return
        case .array(let items):
            got = items.count
            if got == shape[depth] {
                for item in items {
                    try flatten(item, shape: shape, depth: depth + 1, into: &data, what: what, node: node)
                }
                return
            }
        default:
            throw .invalidRequest(
                "\(what): ragged nested arrays: expected an array at depth \(depth), found \(value.kindDescription)",
                node: node)
        }
        throw .invalidRequest(
            "\(what): ragged nested arrays: expected \(shape[depth]) elements at depth \(depth) "
                + "(shape \(shape) from the first elements), found \(got)", node: node)
    }

    // MARK: {"shape", "data"} and {"shape", "dtype", "base64"}

    private static func decodeObject(
        _ fields: [String: JSONValue], what: String, node: String?, limits: Limits
    ) throws(AutodiffError) -> Tensor {
        let known: Set = ["shape", "data", "dtype", "base64"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidRequest(
                "\(what): unknown key \"\(unknown)\"; a tensor object has \"shape\" and either \"data\" "
                    + "or \"dtype\": \"float64\" with \"base64\"", node: node)
        }
        guard let shapeValue = fields["shape"] else {
            throw .invalidRequest("\(what): a tensor object needs \"shape\"", node: node)
        }
        let shape = try decodeShape(shapeValue, what: what, node: node)
        guard let count = Shape.elementCount(shape) else {
            throw .invalidRequest("\(what): shape \(shape) has more elements than fit in memory", node: node)
        }
        try checkCount(count, what: what, node: node, limits: limits)
        if let dtype = fields["dtype"], dtype != .string("float64") {
            throw .invalidRequest("\(what): dtype must be \"float64\"", node: node)
        }
        switch (fields["data"], fields["base64"]) {
        case (.numbers(let values)?, nil):
            // The usual `data`: numbers the parser already packed, taken as they are.
            guard values.count == count else {
                throw .invalidRequest(
                    "\(what): shape \(shape) holds \(count) elements, but \"data\" has \(values.count)", node: node)
            }
            return try Tensor(shape: shape, data: values)
        case (let data?, nil):
            // Arrays with "NaN"/"Infinity" strings (or anything else, refused below) element by element.
            guard let elements = data.arrayElements else {
                throw .invalidRequest("\(what): \"data\" must be a flat array of numbers", node: node)
            }
            var values: [Double] = []
            values.reserveCapacity(elements.count)
            for element in elements {
                guard let x = scalar(element) else {
                    throw .invalidRequest(
                        "\(what): \"data\" must be a flat array of numbers, found \(element.kindDescription)",
                        node: node)
                }
                values.append(x)
            }
            guard values.count == count else {
                throw .invalidRequest(
                    "\(what): shape \(shape) holds \(count) elements, but \"data\" has \(values.count)", node: node)
            }
            return try Tensor(shape: shape, data: values)
        case (nil, .base64Text(let text)?):
            return try Tensor(shape: shape, data: decodeBase64(text, count: count, what: what, node: node))
        case (nil, .string(let text)?):
            let bytes = Array(text.utf8)[...]
            return try Tensor(shape: shape, data: decodeBase64(bytes, count: count, what: what, node: node))
        case (nil, _?):
            throw .invalidRequest("\(what): \"base64\" must be a string", node: node)
        case (nil, nil):
            throw .invalidRequest("\(what): a tensor object needs \"data\" or \"base64\"", node: node)
        case (_?, _?):
            throw .invalidRequest("\(what): give either \"data\" or \"base64\", not both", node: node)
        }
    }

    private static func decodeShape(_ value: JSONValue, what: String, node: String?) throws(AutodiffError) -> [Int] {
        guard case .numbers(let dims) = value else {
            throw .invalidRequest("\(what): \"shape\" must be an array of non-negative integers", node: node)
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for dim in dims {
            guard dim >= 0, dim.rounded() == dim, dim < 9.0e15 else {
                throw .invalidRequest(
                    "\(what): \"shape\" must be an array of non-negative integers, found \(dim)", node: node)
            }
            shape.append(Int(dim))
        }
        return shape
    }

    private static func decodeBase64(
        _ text: ArraySlice<UInt8>, count: Int, what: String, node: String?
    ) throws(AutodiffError) -> [Double] {
        let (expectedBytes, overflow) = count.multipliedReportingOverflow(by: 8)
        guard !overflow else {
            throw .invalidRequest("\(what): \"base64\" is not valid base64 (RFC 4648)", node: node)
        }
        do throws(Base64.Failure) {
            return try Base64.decodeFloat64(text, count: count)
        } catch {
            switch error {
            case .invalid:
                throw .invalidRequest("\(what): \"base64\" is not valid base64 (RFC 4648)", node: node)
            case .wrongLength(let bytes):
                throw .invalidRequest(
                    "\(what): \"base64\" decodes to \(bytes) bytes; \(count) float64 values need \(expectedBytes)",
                    node: node)
            }
        }
    }

    private static func checkCount(_ count: Int, what: String, node: String?, limits: Limits) throws(AutodiffError) {
        guard count <= limits.maxElements else {
            throw .limitExceeded(
                "\(what) has \(count) elements; the limit per tensor is \(limits.maxElements)", node: node)
        }
    }
}
