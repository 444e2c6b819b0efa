/// The seed for one output of a backward pass.
public enum Seed: Sendable, Equatable {
    /// Ones of the output's shape: the gradient of the output's sum.
    case ones
    case tensor(Tensor)
}

public struct BackwardOptions: Sendable, Equatable {
    /// Every seed has one extra leading dimension B; every gradient gets it too.
    public var batched: Bool
    /// Also return the backward computation as a graph (PyTorch's `create_graph=True`).
    public var returnGraph: Bool

    public init(batched: Bool = false, returnGraph: Bool = false) {
        self.batched = batched
        self.returnGraph = returnGraph
    }
}

public struct BackwardResult: Sendable {
    /// The value of every requested output.
    public var outputs: [String: Tensor]
    /// `Σ seedᵀ · ∂output/∂input` for every `wrt` input, zeros for unconnected ones.
    public var gradients: [String: Tensor]
    /// The `wrt` inputs no output depends on, in `wrt` order.
    public var unconnected: [String]
    /// With `returnGraph`: the backward computation as a graph.
    public var backwardGraph: BackwardGraph?
}

/// A graph whose inputs are the original inputs plus `seed:<output>` for each output, and whose
/// `outputs[input]` node computes that input's gradient.
public struct BackwardGraph: Sendable {
    public var graph: GraphSpec
    public var outputs: [String: String]
}

public struct JacobianResult: Sendable {
    public var outputs: [String: Tensor]
    /// `jacobian[output][input]` has shape `output.shape + input.shape`.
    public var jacobian: [String: [String: Tensor]]
}

public struct JVPResult: Sendable {
    public var outputs: [String: Tensor]
    /// `J · t` for every output.
    public var tangents: [String: Tensor]
}

public struct HVPResult: Sendable {
    public var output: Tensor
    /// `∂output/∂input` for every `wrt` input.
    public var gradients: [String: Tensor]
    /// `Σⱼ ∂²output/∂i∂j · vⱼ` for every `wrt` input i.
    public var hvp: [String: Tensor]
}
