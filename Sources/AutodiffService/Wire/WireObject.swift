import AutodiffCore

/// Typed, optional access to the fields of a JSON object, with messages that name the field.
///
/// Each accessor returns `nil` when the field is absent (or `null`) and throws `invalid_request`
/// when it is present with the wrong type.
struct WireObject {
    let fields: [String: JSONValue]
    /// What the object is, for messages: `request`, `graph`, `options`.
    let what: String

    init(_ value: JSONValue, what: String) throws(AutodiffError) {
        guard case .object(let fields) = value else {
            throw .invalidRequest("\(what) must be a JSON object, got \(value.kindDescription)")
        }
        self.fields = fields
        self.what = what
    }

    subscript(key: String) -> JSONValue? {
        guard let value = fields[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws(AutodiffError) -> String? {
        guard let value = self[key] else { return nil }
        guard case .string(let text) = value else { throw mistyped(key, "a string", value) }
        return text
    }

    func bool(_ key: String) throws(AutodiffError) -> Bool? {
        guard let value = self[key] else { return nil }
        guard case .bool(let flag) = value else { throw mistyped(key, "true or false", value) }
        return flag
    }

    func array(_ key: String) throws(AutodiffError) -> [JSONValue]? {
        guard let value = self[key] else { return nil }
        guard let items = value.arrayElements else { throw mistyped(key, "an array", value) }
        return items
    }

    func object(_ key: String) throws(AutodiffError) -> [String: JSONValue]? {
        guard let value = self[key] else { return nil }
        guard case .object(let fields) = value else { throw mistyped(key, "an object", value) }
        return fields
    }

    /// An array of strings; a lone string is accepted as a one-element list.
    func strings(_ key: String) throws(AutodiffError) -> [String]? {
        guard let value = self[key] else { return nil }
        if case .string(let single) = value { return [single] }
        guard let items = value.arrayElements else { throw mistyped(key, "an array of names", value) }
        var names: [String] = []
        for item in items {
            guard case .string(let name) = item else { throw mistyped(key, "an array of names", item) }
            names.append(name)
        }
        return names
    }

    /// A string that must be one of `choices`.
    func choice<Choice: RawRepresentable<String> & CaseIterable>(
        _ key: String, as type: Choice.Type
    ) throws(AutodiffError) -> Choice? {
        guard let text = try string(key) else { return nil }
        guard let choice = Choice(rawValue: text) else {
            let options = Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw .invalidRequest("\(what).\(key) must be one of \(options), got \"\(text)\"")
        }
        return choice
    }

    private func mistyped(_ key: String, _ expected: String, _ value: JSONValue) -> AutodiffError {
        .invalidRequest("\(what).\(key) must be \(expected), got \(value.kindDescription)")
    }
}
