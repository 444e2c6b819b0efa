/// Builds a `GraphDescription` op by op, so a program writes `g.mul(x, x)` instead of JSON:
///
/// ```swift
/// var g = GraphBuilder()
/// let x = g.input("x")
/// let y = g.mul(x, x)
/// let s = g.sum(y)            // s.name is the node id to ask for in `outputs`
/// let graph = g.graph
/// ```
///
/// Every op of the contract has a method; attributes are parameters whose `nil` means the op's default.
/// Nodes are named `n1`, `n2`, … unless a `name:` is given.
public struct GraphBuilder: Sendable {
    public private(set) var graph = GraphDescription(inputs: [], nodes: [])
    private var counter = 0

    public init() {}

    /// An argument: a name in the graph, or a scalar literal (`g.mul(x, 2)`).
    public struct Ref: Sendable, Equatable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
        public let argument: GraphDescription.Argument

        public init(name: String) { argument = .name(name) }
        public init(floatLiteral value: Double) { argument = .number(value) }
        public init(integerLiteral value: Int) { argument = .number(Double(value)) }

        /// The name to use in `outputs`, `wrt` and `values` (empty for a literal).
        public var name: String {
            if case .name(let name) = argument { return name }
            return ""
        }
    }

    /// Declares an input whose value arrives with each call.
    public mutating func input(_ name: String) -> Ref {
        graph.inputs.append(name)
        return Ref(name: name)
    }

    /// A named constant, fixed in the graph and never differentiated.
    public mutating func constant(_ name: String, _ value: Tensor) -> Ref {
        graph.constants[name] = value
        return Ref(name: name)
    }

    /// Any op by name; the typed methods below all end here.
    public mutating func node(_ op: String, _ args: [Ref], attrs: [String: JSON] = [:], name: String? = nil) -> Ref {
        let id: String
        if let name {
            id = name
        } else {
            counter += 1
            id = "n\(counter)"
        }
        graph.nodes.append(.init(id: id, op: op, args: args.map(\.argument), attrs: attrs))
        return Ref(name: id)
    }

    // MARK: Elementwise, two arguments (NumPy broadcasting)

    public mutating func add(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("add", [a, b], name: name) }
    public mutating func sub(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("sub", [a, b], name: name) }
    public mutating func mul(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("mul", [a, b], name: name) }
    public mutating func div(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("div", [a, b], name: name) }
    public mutating func pow(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("pow", [a, b], name: name) }
    public mutating func maximum(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref {
        node("maximum", [a, b], name: name)
    }
    public mutating func minimum(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref {
        node("minimum", [a, b], name: name)
    }
    public mutating func gt(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("gt", [a, b], name: name) }
    public mutating func ge(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("ge", [a, b], name: name) }
    public mutating func lt(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("lt", [a, b], name: name) }
    public mutating func le(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("le", [a, b], name: name) }
    public mutating func eq(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("eq", [a, b], name: name) }
    public mutating func ne(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("ne", [a, b], name: name) }
    /// `cond ≠ 0 ? a : b`, elementwise.
    public mutating func `where`(_ cond: Ref, _ a: Ref, _ b: Ref, name: String? = nil) -> Ref {
        node("where", [cond, a, b], name: name)
    }

    // MARK: Elementwise, one argument

    public mutating func neg(_ x: Ref, name: String? = nil) -> Ref { node("neg", [x], name: name) }
    public mutating func exp(_ x: Ref, name: String? = nil) -> Ref { node("exp", [x], name: name) }
    public mutating func log(_ x: Ref, name: String? = nil) -> Ref { node("log", [x], name: name) }
    public mutating func sqrt(_ x: Ref, name: String? = nil) -> Ref { node("sqrt", [x], name: name) }
    public mutating func sin(_ x: Ref, name: String? = nil) -> Ref { node("sin", [x], name: name) }
    public mutating func cos(_ x: Ref, name: String? = nil) -> Ref { node("cos", [x], name: name) }
    public mutating func tan(_ x: Ref, name: String? = nil) -> Ref { node("tan", [x], name: name) }
    public mutating func tanh(_ x: Ref, name: String? = nil) -> Ref { node("tanh", [x], name: name) }
    public mutating func sigmoid(_ x: Ref, name: String? = nil) -> Ref { node("sigmoid", [x], name: name) }
    public mutating func reciprocal(_ x: Ref, name: String? = nil) -> Ref { node("reciprocal", [x], name: name) }
    public mutating func square(_ x: Ref, name: String? = nil) -> Ref { node("square", [x], name: name) }
    public mutating func log1p(_ x: Ref, name: String? = nil) -> Ref { node("log1p", [x], name: name) }
    public mutating func expm1(_ x: Ref, name: String? = nil) -> Ref { node("expm1", [x], name: name) }
    public mutating func erf(_ x: Ref, name: String? = nil) -> Ref { node("erf", [x], name: name) }
    public mutating func abs(_ x: Ref, name: String? = nil) -> Ref { node("abs", [x], name: name) }
    public mutating func relu(_ x: Ref, name: String? = nil) -> Ref { node("relu", [x], name: name) }
    public mutating func sign(_ x: Ref, name: String? = nil) -> Ref { node("sign", [x], name: name) }
    public mutating func floor(_ x: Ref, name: String? = nil) -> Ref { node("floor", [x], name: name) }
    public mutating func ceil(_ x: Ref, name: String? = nil) -> Ref { node("ceil", [x], name: name) }
    public mutating func round(_ x: Ref, name: String? = nil) -> Ref { node("round", [x], name: name) }

    public mutating func leakyRelu(_ x: Ref, negativeSlope: Double? = nil, name: String? = nil) -> Ref {
        node("leaky_relu", [x], attrs: Self.attrs(["negative_slope": negativeSlope.map(JSON.number)]), name: name)
    }
    public mutating func elu(_ x: Ref, alpha: Double? = nil, name: String? = nil) -> Ref {
        node("elu", [x], attrs: Self.attrs(["alpha": alpha.map(JSON.number)]), name: name)
    }
    /// `approximate`: `"none"` (default) or `"tanh"`.
    public mutating func gelu(_ x: Ref, approximate: String? = nil, name: String? = nil) -> Ref {
        node("gelu", [x], attrs: Self.attrs(["approximate": approximate.map(JSON.string)]), name: name)
    }
    public mutating func softplus(
        _ x: Ref, beta: Double? = nil, threshold: Double? = nil, name: String? = nil
    ) -> Ref {
        node(
            "softplus", [x],
            attrs: Self.attrs(["beta": beta.map(JSON.number), "threshold": threshold.map(JSON.number)]),
            name: name)
    }
    public mutating func clamp(_ x: Ref, min: Double? = nil, max: Double? = nil, name: String? = nil) -> Ref {
        node("clamp", [x], attrs: Self.attrs(["min": min.map(JSON.number), "max": max.map(JSON.number)]), name: name)
    }

    // MARK: Reductions (`axes` nil: all axes)

    public mutating func sum(_ x: Ref, axes: [Int]? = nil, keepdims: Bool? = nil, name: String? = nil) -> Ref {
        reduction("sum", x, axes, keepdims, name)
    }
    public mutating func mean(_ x: Ref, axes: [Int]? = nil, keepdims: Bool? = nil, name: String? = nil) -> Ref {
        reduction("mean", x, axes, keepdims, name)
    }
    public mutating func prod(_ x: Ref, axes: [Int]? = nil, keepdims: Bool? = nil, name: String? = nil) -> Ref {
        reduction("prod", x, axes, keepdims, name)
    }
    public mutating func max(_ x: Ref, axes: [Int]? = nil, keepdims: Bool? = nil, name: String? = nil) -> Ref {
        reduction("max", x, axes, keepdims, name)
    }
    public mutating func min(_ x: Ref, axes: [Int]? = nil, keepdims: Bool? = nil, name: String? = nil) -> Ref {
        reduction("min", x, axes, keepdims, name)
    }
    public mutating func logsumexp(
        _ x: Ref, axes: [Int]? = nil, keepdims: Bool? = nil, name: String? = nil
    ) -> Ref {
        reduction("logsumexp", x, axes, keepdims, name)
    }

    private mutating func reduction(_ op: String, _ x: Ref, _ axes: [Int]?, _ keepdims: Bool?, _ name: String?) -> Ref {
        node(op, [x], attrs: Self.attrs(["axes": axes.map(Self.ints), "keepdims": keepdims.map(JSON.bool)]), name: name)
    }

    // MARK: Linear algebra and shapes

    /// `torch.matmul` rules: 1-D promotion, batch broadcasting.
    public mutating func matmul(_ a: Ref, _ b: Ref, name: String? = nil) -> Ref { node("matmul", [a, b], name: name) }
    /// `perm` nil: reverse the axes.
    public mutating func transpose(_ x: Ref, perm: [Int]? = nil, name: String? = nil) -> Ref {
        node("transpose", [x], attrs: Self.attrs(["perm": perm.map(Self.ints)]), name: name)
    }
    /// One `-1` in `shape` is inferred.
    public mutating func reshape(_ x: Ref, shape: [Int], name: String? = nil) -> Ref {
        node("reshape", [x], attrs: ["shape": Self.ints(shape)], name: name)
    }
    public mutating func broadcastTo(_ x: Ref, shape: [Int], name: String? = nil) -> Ref {
        node("broadcast_to", [x], attrs: ["shape": Self.ints(shape)], name: name)
    }
    /// `axes` nil: every size-1 axis.
    public mutating func squeeze(_ x: Ref, axes: [Int]? = nil, name: String? = nil) -> Ref {
        node("squeeze", [x], attrs: Self.attrs(["axes": axes.map(Self.ints)]), name: name)
    }
    /// `axes` are positions in the output (ONNX rules).
    public mutating func unsqueeze(_ x: Ref, axes: [Int], name: String? = nil) -> Ref {
        node("unsqueeze", [x], attrs: ["axes": Self.ints(axes)], name: name)
    }
    public mutating func concat(_ xs: [Ref], axis: Int? = nil, name: String? = nil) -> Ref {
        node("concat", xs, attrs: Self.attrs(["axis": axis.map { .number(Double($0)) }]), name: name)
    }
    /// ONNX `Slice`: out-of-range ends clamp; steps > 0.
    public mutating func slice(
        _ x: Ref, starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil, name: String? = nil
    ) -> Ref {
        let attrs = Self.attrs([
            "starts": Self.ints(starts), "ends": Self.ints(ends), "axes": axes.map(Self.ints),
            "steps": steps.map(Self.ints),
        ])
        return node("slice", [x], attrs: attrs, name: name)
    }
    /// Places `x` into the slice (ONNX `Slice` attributes) of a zero tensor of `shape`: the adjoint of `slice`,
    /// as backward graphs (`returnGraph`) use it.
    public mutating func sliceBackward(
        _ x: Ref, shape: [Int], starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil,
        name: String? = nil
    ) -> Ref {
        let attrs = Self.attrs([
            "shape": Self.ints(shape), "starts": Self.ints(starts), "ends": Self.ints(ends),
            "axes": axes.map(Self.ints), "steps": steps.map(Self.ints),
        ])
        return node("slice_backward", [x], attrs: attrs, name: name)
    }
    public mutating func softmax(_ x: Ref, axis: Int? = nil, name: String? = nil) -> Ref {
        node("softmax", [x], attrs: Self.attrs(["axis": axis.map { .number(Double($0)) }]), name: name)
    }
    public mutating func logSoftmax(_ x: Ref, axis: Int? = nil, name: String? = nil) -> Ref {
        node("log_softmax", [x], attrs: Self.attrs(["axis": axis.map { .number(Double($0)) }]), name: name)
    }

    // MARK: Helpers

    private static func attrs(_ optional: [String: JSON?]) -> [String: JSON] {
        optional.compactMapValues { $0 }
    }

    private static func ints(_ values: [Int]) -> JSON {
        .array(values.map { .number(Double($0)) })
    }
}
