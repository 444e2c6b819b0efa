/// A parsed JSON document.
///
/// Rectangular arrays of numbers are kept packed as `[Double]`, so a tensor of a million elements
/// costs eight bytes an element rather than one enum per element: one level as `numbers`, deeper
/// ones as `grid` with their shape. `[]` parses as `numbers([])`.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    /// The value of a `"base64"` member that is a long string of base64 characters (the alphabet
    /// and `=`; a tensor's base64): its bytes in the request body, shared rather than copied into a
    /// `String`, so they are decoded straight from the body. Means the same as `.string` of those
    /// bytes. Short strings (`"ones"`, names) are never kept this way, so comparisons with `.string`
    /// literals do not change.
    case base64Text(ArraySlice<UInt8>)
    case numbers([Double])
    /// Nested rectangular arrays of numbers, two or more levels deep: `data` row-major, `shape`
    /// the array lengths from the outermost in (`[[1, 2, 3], [4, 5, 6]]` is shape `[2, 3]`).
    case grid(shape: [Int], data: [Double])
    case array([JSONValue])
    case object([String: JSONValue])

    /// Packed numbers of `shape` (`[]` is one number).
    init(shape: [Int], data: ArraySlice<Double>) {
        switch shape.count {
        case 0: self = .number(data.first ?? 0)
        case 1: self = .numbers(Array(data))
        default: self = .grid(shape: shape, data: Array(data))
        }
    }

    /// The elements of an array in any representation, or `nil` for a non-array.
    var arrayElements: [JSONValue]? {
        switch self {
        case .array(let items):
            return items
        case .numbers(let xs):
            return xs.map(JSONValue.number)
        case .grid(let shape, let data):
            let element = Array(shape.dropFirst())
            let size = element.reduce(1, *)
            return (0..<shape[0]).map { JSONValue(shape: element, data: data[$0 * size..<($0 + 1) * size]) }
        default:
            return nil
        }
    }

    /// A few words naming the kind of value, for error messages ("a string", "an object").
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string, .base64Text: "a string"
        case .numbers, .grid, .array: "an array"
        case .object: "an object"
        }
    }
}
