/// A node's attributes after checking names and kinds against its op's `AttributeSpec`s,
/// with defaults filled in. Values that depend on shapes (axes in range, a valid `perm`) are
/// checked later, when shapes are known.
struct Attributes: Sendable, Equatable {
    private(set) var values: [String: AttributeValue]

    /// No attributes. (An empty `Dictionary()`, not a `[:]` literal, which the nodes differentiation
    /// adds paid a measurable call for.)
    init() {
        values = Dictionary()
    }

    init(_ values: [String: AttributeValue]) {
        self.values = values
    }

    /// Checks `raw` against `op`'s attribute specs. `null` counts as absent.
    init(validating raw: [String: AttributeValue], op: Op, node: String) throws(AutodiffError) {
        let specs = op.attributes
        for name in raw.keys.sorted() where !specs.contains(where: { $0.name == name }) {
            let known = specs.isEmpty ? "it takes none" : "it takes " + specs.map(\.name).joined(separator: ", ")
            throw .invalidAttribute(node: node, op: op.rawValue, attribute: name, reason: "is unknown; \(known)")
        }
        var values: [String: AttributeValue] = [:]
        for spec in specs {
            let value = raw[spec.name] ?? .null
            if value == .null {
                if let defaultValue = spec.defaultValue {
                    values[spec.name] = defaultValue
                } else if spec.required {
                    throw .invalidAttribute(
                        node: node, op: op.rawValue, attribute: spec.name, reason: "is required (\(spec.kind.name))")
                }
                continue
            }
            guard let checked = Self.check(value, kind: spec.kind) else {
                let expected =
                    switch spec.kind {
                    case .choice(let options): "one of " + options.map { "\"\($0)\"" }.joined(separator: ", ")
                    case .int, .ints: "a value of type \(spec.kind.name) with magnitude at most 2^62"
                    case .indices, .number, .bool: "a value of type \(spec.kind.name)"
                    }
                throw .invalidAttribute(
                    node: node, op: op.rawValue, attribute: spec.name,
                    reason: "must be \(expected), got \(value.summary)")
            }
            values[spec.name] = checked
        }
        self.values = values
    }

    /// Normalizes `value` to `kind` (`keepdims: 1` becomes `true`), or `nil` when it does not fit.
    private static func check(_ value: AttributeValue, kind: AttributeSpec.Kind) -> AttributeValue? {
        switch (kind, value) {
        case (.number, .number(let x)):
            return x.isNaN ? nil : value
        case (.int, .number(let x)):
            return Self.integer(x) == nil ? nil : value
        case (.ints, .array(let items)):
            for item in items {
                guard case .number(let x) = item, Self.integer(x) != nil else { return nil }
            }
            return value
        case (.indices, .array(let items)):
            // ONNX's "to the end" (INT64_MAX) and "from the start" spellings clamp to ±2⁶².
            var clamped: [AttributeValue] = []
            for item in items {
                guard case .number(let x) = item, x.rounded() == x else { return nil }
                clamped.append(.number(Swift.min(Swift.max(x, -Self.integerBound), Self.integerBound)))
            }
            return .array(clamped)
        case (.bool, .bool):
            return value
        case (.bool, .number(let x)) where x == 0 || x == 1:
            return .bool(x == 1)
        case (.choice(let options), .string(let s)):
            return options.contains(s) ? value : nil
        default:
            return nil
        }
    }

    /// The largest magnitude an integer attribute may have, so that adding a rank or a dimension to
    /// one can never overflow.
    static let integerBound = 0x1p62

    /// An exactly integral double of magnitude at most 2⁶², or `nil`. Out-of-range values are
    /// refused rather than clamped, so no shape is silently changed into another.
    private static func integer(_ x: Double) -> Int? {
        guard x.rounded() == x, Swift.abs(x) <= integerBound else { return nil }
        return Int(x)
    }

    // MARK: Typed access (kinds are already checked)

    func number(_ name: String) -> Double? {
        if case .number(let x) = values[name] { return x }
        return nil
    }

    func int(_ name: String) -> Int? {
        number(name).flatMap(Self.integer)
    }

    func ints(_ name: String) -> [Int]? {
        guard case .array(let items) = values[name] else { return nil }
        return items.map { item in
            if case .number(let x) = item, let n = Self.integer(x) { return n }
            return 0
        }
    }

    func bool(_ name: String) -> Bool {
        values[name] == .bool(true)
    }

    func string(_ name: String) -> String? {
        if case .string(let s) = values[name] { return s }
        return nil
    }
}

extension Attributes {
    /// Attributes built by backward rules, which are correct by construction.
    static func ints(_ name: String, _ value: [Int]) -> [String: AttributeValue] {
        [name: .array(value.map { .number(Double($0)) })]
    }
}

extension AttributeValue {
    /// A short rendering for error messages.
    var summary: String {
        switch self {
        case .number(let x): x.rounded() == x && Swift.abs(x) < 1e15 ? String(Int(x)) : String(x)
        case .string(let s): "\"\(s)\""
        case .bool(let b): String(b)
        case .array(let items): "[" + items.map(\.summary).joined(separator: ",") + "]"
        case .null: "null"
        }
    }
}
