import Foundation

/// Read-only access to a JSON document parsed by Foundation, for assertions.
/// Missing keys and wrong types read as `JSON(nil)`, so a chain of subscripts never traps.
///
/// `@unchecked Sendable`: the Foundation tree is built once in `init` and only read afterwards.
struct JSON: @unchecked Sendable, CustomStringConvertible {
    let value: Any?

    init(_ value: Any?) {
        self.value = value
    }

    init(parsing text: String) {
        value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    subscript(key: String) -> JSON { JSON((value as? [String: Any])?[key]) }
    subscript(index: Int) -> JSON {
        guard let array = value as? [Any], array.indices.contains(index) else { return JSON(nil) }
        return JSON(array[index])
    }

    var string: String? { value as? String }
    var bool: Bool? { value as? Bool }
    var int: Int? { (value as? NSNumber).map(\.intValue) }
    var keys: [String] { (value as? [String: Any]).map { Array($0.keys).sorted() } ?? [] }
    var isNull: Bool { value is NSNull }
    var count: Int? { (value as? [Any])?.count ?? (value as? [String: Any])?.count }

    /// A number, or the value of `"NaN"`, `"Infinity"`, `"-Infinity"`.
    var double: Double? {
        if let string = value as? String {
            return ["NaN": .nan, "Infinity": .infinity, "-Infinity": -.infinity][string]
        }
        return (value as? NSNumber)?.doubleValue
    }

    /// Every number of a nested array, row-major (a bare number gives one element).
    var doubles: [Double]? {
        if let array = value as? [Any] {
            var result: [Double] = []
            for item in array {
                guard let inner = JSON(item).doubles else { return nil }
                result += inner
            }
            return result
        }
        return double.map { [$0] }
    }

    /// The shape of a nested array.
    var shape: [Int] {
        guard let array = value as? [Any] else { return [] }
        return [array.count] + (array.first.map { JSON($0).shape } ?? [])
    }

    var description: String {
        guard let value, let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
        else { return "nil" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Element-wise closeness with a relative tolerance; NaN equals NaN.
func close(_ actual: [Double]?, _ expected: [Double], tolerance: Double = 1e-9) -> Bool {
    guard let actual, actual.count == expected.count else { return false }
    return zip(actual, expected).allSatisfy { a, e in
        if a.isNaN || e.isNaN { return a.isNaN && e.isNaN }
        if a.isInfinite || e.isInfinite { return a == e }
        return abs(a - e) <= tolerance * max(1, abs(e))
    }
}
