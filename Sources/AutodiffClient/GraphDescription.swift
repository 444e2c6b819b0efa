import Foundation

/// A graph in the contract's JSON form: `{"inputs", "constants", "nodes"}`.
///
/// Write one by hand, decode one from JSON, or build one with `GraphBuilder`.
public struct GraphDescription: Sendable, Equatable, Codable {
    public var inputs: [String]
    public var constants: [String: Tensor]
    public var nodes: [Node]

    public init(inputs: [String], constants: [String: Tensor] = [:], nodes: [Node]) {
        self.inputs = inputs
        self.constants = constants
        self.nodes = nodes
    }

    /// One node: its output name `id`, op name, arguments and attributes.
    public struct Node: Sendable, Equatable, Codable {
        public var id: String
        public var op: String
        public var args: [Argument]
        public var attrs: [String: JSON]

        public init(id: String, op: String, args: [Argument], attrs: [String: JSON] = [:]) {
            self.id = id
            self.op = op
            self.args = args
            self.attrs = attrs
        }

        enum CodingKeys: String, CodingKey { case id, op, args, attrs }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            id = try container.decode(String.self, forKey: .id)
            op = try container.decode(String.self, forKey: .op)
            args = try container.decode([Argument].self, forKey: .args)
            attrs = try container.decodeIfPresent([String: JSON].self, forKey: .attrs) ?? [:]
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(op, forKey: .op)
            try container.encode(args, forKey: .args)
            if !attrs.isEmpty { try container.encode(attrs, forKey: .attrs) }
        }
    }

    /// A node argument: a name (input, constant or node) or a scalar literal.
    public enum Argument: Sendable, Equatable, Codable {
        case name(String)
        case number(Double)

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let name = try? container.decode(String.self) {
                self = .name(name)
            } else {
                self = .number(try container.decode(Double.self))
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .name(let name): try container.encode(name)
            case .number(let x): try container.encode(x)
            }
        }
    }

    enum CodingKeys: String, CodingKey { case inputs, constants, nodes }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputs = try container.decode([String].self, forKey: .inputs)
        constants = try container.decodeIfPresent([String: Tensor].self, forKey: .constants) ?? [:]
        nodes = try container.decode([Node].self, forKey: .nodes)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inputs, forKey: .inputs)
        if !constants.isEmpty { try container.encode(constants, forKey: .constants) }
        try container.encode(nodes, forKey: .nodes)
    }

    /// The graph as the contract's JSON text.
    public func jsonString() throws -> String {
        String(decoding: try WireCoding.encoder().encode(self), as: UTF8.self)
    }
}
