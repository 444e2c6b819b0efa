/// A parsed JSON document.
///
/// Arrays made only of numbers are kept packed as `[Double]` (`numbers`), so a tensor of a million
/// elements costs eight bytes an element rather than one enum per element. `[]` parses as `numbers([])`.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case numbers([Double])
    case array([JSONValue])
    case object([String: JSONValue])

    /// The elements of an array in either representation, or `nil` for a non-array.
    var arrayElements: [JSONValue]? {
        switch self {
        case .array(let items): items
        case .numbers(let xs): xs.map(JSONValue.number)
        default: nil
        }
    }

    /// A few words naming the kind of value, for error messages ("a string", "an object").
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .numbers, .array: "an array"
        case .object: "an object"
        }
    }
}
