/// Where a call's graph comes from: sent whole, or the id of a graph registered with `register(_:)`.
public enum GraphSource: Sendable, Equatable {
    case inline(GraphDescription)
    case id(String)
}

/// A seed for one output of `backward`: a tensor of the output's shape, or ones (the gradient of its sum).
public enum Seed: Sendable, Equatable {
    case ones
    case tensor(Tensor)
}

/// `options.unconnected`: what an input no output depends on gets.
public enum UnconnectedPolicy: String, Sendable, Equatable {
    /// A zero gradient (the default).
    case zero
    /// No gradient (`nil` in `BackwardResponse.gradients`).
    case null
    /// The call fails with `422 unconnected_input`.
    case error
}

/// `POST /v1/backward`: `Σᵢ seedᵢᵀ · ∂outputᵢ/∂input` for each `wrt` input.
public struct BackwardRequest: Sendable, Equatable {
    public var graph: GraphSource
    public var values: [String: Tensor]
    public var outputs: [String]
    /// One per non-scalar output; a one-element output may omit its seed (it is 1).
    public var seeds: [String: Seed]
    /// Inputs to differentiate with respect to; `nil` means every input.
    public var wrt: [String]?
    public var unconnected: UnconnectedPolicy?
    /// Every seed has one extra leading dimension B; every gradient gets it too.
    public var batched: Bool
    /// Also return the backward graph (for second derivatives).
    public var returnGraph: Bool

    public init(
        graph: GraphSource, values: [String: Tensor], outputs: [String], seeds: [String: Seed] = [:],
        wrt: [String]? = nil, unconnected: UnconnectedPolicy? = nil, batched: Bool = false, returnGraph: Bool = false
    ) {
        self.graph = graph
        self.values = values
        self.outputs = outputs
        self.seeds = seeds
        self.wrt = wrt
        self.unconnected = unconnected
        self.batched = batched
        self.returnGraph = returnGraph
    }
}

public struct BackwardResponse: Sendable, Equatable {
    public var outputs: [String: Tensor]
    /// One per `wrt` input; `nil` for an unconnected input under `UnconnectedPolicy.null`.
    public var gradients: [String: Tensor?]
    /// Inputs no output depends on.
    public var unconnected: [String]
    /// With `returnGraph`: the graph computing each gradient, and which of its nodes holds each.
    public var backwardGraph: BackwardGraph?
}

/// The graph of a backward pass: inputs are the original inputs plus `seed:<output>`.
public struct BackwardGraph: Sendable, Equatable, Codable {
    public var graph: GraphDescription
    /// Input name → the node computing its gradient.
    public var outputs: [String: String]
}

/// `POST /v1/forward`.
public struct ForwardRequest: Sendable, Equatable {
    public var graph: GraphSource
    public var values: [String: Tensor]
    public var outputs: [String]

    public init(graph: GraphSource, values: [String: Tensor], outputs: [String]) {
        self.graph = graph
        self.values = values
        self.outputs = outputs
    }
}

public struct ForwardResponse: Sendable, Equatable {
    public var outputs: [String: Tensor]
}

/// `POST /v1/jacobian`: `J` of shape `output.shape + input.shape` for each output and `wrt` input.
public struct JacobianRequest: Sendable, Equatable {
    public var graph: GraphSource
    public var values: [String: Tensor]
    public var outputs: [String]
    public var wrt: [String]?

    public init(graph: GraphSource, values: [String: Tensor], outputs: [String], wrt: [String]? = nil) {
        self.graph = graph
        self.values = values
        self.outputs = outputs
        self.wrt = wrt
    }
}

public struct JacobianResponse: Sendable, Equatable {
    public var outputs: [String: Tensor]
    /// `jacobian[output][input]`.
    public var jacobian: [String: [String: Tensor]]
}

/// `POST /v1/jvp`: forward mode, `J · t` for each output.
public struct JVPRequest: Sendable, Equatable {
    public var graph: GraphSource
    public var values: [String: Tensor]
    public var outputs: [String]
    /// Inputs without a tangent have a zero tangent.
    public var tangents: [String: Tensor]

    public init(graph: GraphSource, values: [String: Tensor], outputs: [String], tangents: [String: Tensor]) {
        self.graph = graph
        self.values = values
        self.outputs = outputs
        self.tangents = tangents
    }
}

public struct JVPResponse: Sendable, Equatable {
    public var outputs: [String: Tensor]
    public var tangents: [String: Tensor]
}

/// `POST /v1/hvp`: for a one-element `output`, `Σⱼ (∂²output/∂i∂j) · vⱼ` for each `wrt` input i.
public struct HVPRequest: Sendable, Equatable {
    public var graph: GraphSource
    public var values: [String: Tensor]
    public var output: String
    public var vectors: [String: Tensor]
    public var wrt: [String]?

    public init(
        graph: GraphSource, values: [String: Tensor], output: String, vectors: [String: Tensor], wrt: [String]? = nil
    ) {
        self.graph = graph
        self.values = values
        self.output = output
        self.vectors = vectors
        self.wrt = wrt
    }
}

public struct HVPResponse: Sendable, Equatable {
    public var output: Tensor
    public var gradients: [String: Tensor]
    public var hvp: [String: Tensor]
}

/// `POST /v1/graphs` → 201.
public struct Registration: Sendable, Equatable, Decodable {
    /// `sha256-<64 hex>`, the same for the same graph.
    public var graphID: String
    public var inputs: [String]
    public var nodes: Int

    enum CodingKeys: String, CodingKey {
        case graphID = "graph_id"
        case inputs, nodes
    }
}

/// `GET /v1/ops`: every op with its arity and attributes.
public struct OpsCatalog: Sendable, Equatable, Decodable {
    public var ops: [Op]

    public struct Op: Sendable, Equatable, Decodable {
        public var name: String
        public var arity: Int
        /// `arity` is then a minimum.
        public var variadic: Bool
        public var attrs: [Attribute]
        public var gradientNote: String

        enum CodingKeys: String, CodingKey {
            case name, arity, variadic, attrs
            case gradientNote = "gradient_note"
        }
    }

    public struct Attribute: Sendable, Equatable, Decodable {
        public var name: String
        public var kind: String
        public var required: Bool
        public var `default`: JSON?
    }
}
