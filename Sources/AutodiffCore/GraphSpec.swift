/// A graph as a client describes it, before validation: names, op names and raw attributes.
///
/// `Graph(spec, limits:)` validates it; `Graph.spec` gives one back (for example for a backward graph).
public struct GraphSpec: Sendable, Equatable {
    public var inputs: [String]
    public var constants: [String: Tensor]
    public var nodes: [NodeSpec]

    public init(inputs: [String], constants: [String: Tensor] = [:], nodes: [NodeSpec]) {
        self.inputs = inputs
        self.constants = constants
        self.nodes = nodes
    }
}

/// One node of a `GraphSpec`: its output name, op name, arguments and attributes.
public struct NodeSpec: Sendable, Equatable {
    public var id: String
    public var op: String
    public var args: [ArgumentSpec]
    public var attrs: [String: AttributeValue]

    public init(id: String, op: String, args: [ArgumentSpec], attrs: [String: AttributeValue] = [:]) {
        self.id = id
        self.op = op
        self.args = args
        self.attrs = attrs
    }
}

/// A node argument: the name of an input, constant or node, or a scalar literal.
public enum ArgumentSpec: Sendable, Equatable {
    case name(String)
    case number(Double)
}

/// A raw attribute value, as JSON can spell it.
public indirect enum AttributeValue: Sendable, Equatable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case array([AttributeValue])
    case null
}
