import AutodiffCore
import Crypto

/// Reads and writes graphs in the contract's JSON form:
///
/// ```
/// {"inputs": ["x"], "constants": {"half": 0.5},
///  "nodes": [{"id": "y", "op": "mul", "args": ["x", "half"], "attrs": {}}]}
/// ```
enum WireGraph {
    // MARK: Decoding

    static func decode(_ value: JSONValue, limits: Limits) throws(AutodiffError) -> GraphSpec {
        let graph = try WireObject(value, what: "graph")
        let inputs = try graph.strings("inputs") ?? []
        var constants: [String: Tensor] = [:]
        if let constantFields = try graph.object("constants") {
            for (name, constant) in constantFields {
                constants[name] = try WireTensor.decode(
                    constant, what: "constant \"\(name)\"", node: name, limits: limits)
            }
        }
        guard let nodeValues = try graph.array("nodes") else {
            throw .invalidRequest("graph: \"nodes\" is required (an array of {\"id\", \"op\", \"args\"} objects)")
        }
        guard nodeValues.count <= limits.maxNodes else {
            throw .limitExceeded("the graph has \(nodeValues.count) nodes; the limit is \(limits.maxNodes)")
        }
        let objects = try nodeValues.enumerated().map { (position, node) throws(AutodiffError) in
            try WireObject(node, what: "graph node \(position)")
        }
        var names = Set(inputs).union(constants.keys)
        for node in objects {
            if let id = try? node.string("id") { names.insert(id) }
        }
        var nodes: [NodeSpec] = []
        nodes.reserveCapacity(objects.count)
        for node in objects {
            nodes.append(try decodeNode(node, names: names))
        }
        return GraphSpec(inputs: inputs, constants: constants, nodes: nodes)
    }

    private static func decodeNode(_ node: WireObject, names: Set<String>) throws(AutodiffError) -> NodeSpec {
        guard let id = try node.string("id") else { throw .invalidRequest("\(node.what): \"id\" is required") }
        let what = "node \"\(id)\""
        guard let op = try node.string("op") else { throw .invalidRequest("\(what): \"op\" is required", node: id) }
        var args: [ArgumentSpec] = []
        for arg in try node.array("args") ?? [] {
            switch arg {
            case .number(let x):
                args.append(.number(x))
            case .string(let name) where !names.contains(name):
                // "NaN" and the infinities are numbers unless the graph defines such a name.
                args.append(WireTensor.nonFinite(name).map(ArgumentSpec.number) ?? .name(name))
            case .string(let name):
                args.append(.name(name))
            default:
                throw .invalidRequest(
                    "\(what): each of \"args\" must be a name or a number, got \(arg.kindDescription)", node: id)
            }
        }
        var attrs: [String: AttributeValue] = [:]
        for (name, value) in try node.object("attrs") ?? [:] {
            attrs[name] = try attribute(value, what: "\(what) attribute \"\(name)\"", node: id)
        }
        return NodeSpec(id: id, op: op, args: args, attrs: attrs)
    }

    /// Attribute values are numbers, strings, booleans, null or arrays of those.
    private static func attribute(
        _ value: JSONValue, what: String, node: String
    ) throws(AutodiffError) -> AttributeValue {
        switch value {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let x): return .number(x)
        case .string(let s): return WireTensor.nonFinite(s).map(AttributeValue.number) ?? .string(s)
        case .base64Text(let bytes): return .string(String(decoding: bytes, as: UTF8.self))
        case .numbers(let xs): return .array(xs.map(AttributeValue.number))
        case .grid: return try attribute(.array(value.arrayElements ?? []), what: what, node: node)
        case .array(let items):
            var values: [AttributeValue] = []
            for item in items {
                if case .array = item {
                    throw .invalidRequest("\(what) may not nest arrays", node: node)
                }
                values.append(try attribute(item, what: what, node: node))
            }
            return .array(values)
        case .object:
            throw .invalidRequest("\(what) must be a number, string, boolean or array, got an object", node: node)
        }
    }

    // MARK: Encoding

    /// The graph as JSON: keys sorted, constants flat (`{"shape","data"}`), nodes in the order given.
    /// Equal specs give byte-identical output, which makes this the canonical form that `id(of:)` hashes.
    static func encode(_ spec: GraphSpec) -> JSONOutput {
        let constants = spec.constants.mapValues { JSONOutput.tensor($0, .flat) }
        let nodes = spec.nodes.map { node -> JSONOutput in
            var fields: [(String, JSONOutput)] = [
                ("args", .array(node.args.map(encode)))
            ]
            if !node.attrs.isEmpty {
                fields.append(("attrs", .sortedObject(node.attrs.mapValues(encode))))
            }
            fields.append(("id", .string(node.id)))
            fields.append(("op", .string(node.op)))
            return .object(fields)
        }
        var fields: [(String, JSONOutput)] = []
        if !spec.constants.isEmpty { fields.append(("constants", .sortedObject(constants))) }
        fields.append(("inputs", .array(spec.inputs.map(JSONOutput.string))))
        fields.append(("nodes", .array(nodes)))
        return .object(fields)
    }

    private static func encode(_ arg: ArgumentSpec) -> JSONOutput {
        switch arg {
        case .name(let name): .string(name)
        case .number(let x): .number(x)
        }
    }

    /// An attribute value as JSON (also used for the defaults `GET /v1/ops` lists).
    static func encode(_ attribute: AttributeValue) -> JSONOutput {
        switch attribute {
        case .number(let x): .number(x)
        case .string(let s): .string(s)
        case .bool(let b): .bool(b)
        case .array(let items): .array(items.map(encode))
        case .null: .null
        }
    }

    // MARK: Content address

    /// `sha256-<64 hex digits>` of the canonical form.
    static func id(ofCanonical bytes: [UInt8]) -> String {
        let digest = SHA256.hash(data: bytes)
        return "sha256-"
            + digest.map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }.joined()
    }
}
