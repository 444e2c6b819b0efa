import AutodiffCore

/// `GET /v1/ops`, generated from the op table so it cannot drift from what the core accepts:
///
/// ```
/// {"ops": [{"name": "sum", "arity": 1, "variadic": false,
///           "attrs": [{"name": "axes", "kind": "int[]", "required": false, "default": null, "note": "all axes"},
///                     {"name": "keepdims", "kind": "bool", "required": false, "default": false}],
///           "gradient_note": "gradient broadcast back over the reduced axes"}, …]}
/// ```
enum OpsCatalog {
    static var document: JSONOutput {
        .object([("ops", .array(Op.allCases.map(entry)))])
    }

    static func entry(_ op: Op) -> JSONOutput {
        let (arity, variadic) =
            switch op.arity {
            case .exactly(let n): (n, false)
            case .atLeast(let n): (n, true)
            }
        return .object([
            ("name", .string(op.rawValue)),
            ("arity", .integer(arity)),
            ("variadic", .bool(variadic)),
            ("attrs", .array(op.attributes.map(attribute))),
            ("gradient_note", .string(op.gradientNote)),
        ])
    }

    private static func attribute(_ spec: AttributeSpec) -> JSONOutput {
        var fields: [(String, JSONOutput)] = [
            ("name", .string(spec.name)),
            ("kind", .string(spec.kind.name)),
            ("required", .bool(spec.required)),
            ("default", spec.defaultValue.map(WireGraph.encode) ?? .null),
        ]
        if case .choice(let options) = spec.kind {
            fields.append(("choices", .array(options.map(JSONOutput.string))))
        }
        if let note = spec.note { fields.append(("note", .string(note))) }
        return .object(fields)
    }
}
