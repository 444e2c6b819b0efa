import Testing

@testable import AutodiffCore

// Terse construction of tensors, attributes and graphs for the tests.

// MARK: Tensors

/// A tensor of `shape` holding `data` in row-major order.
func tensor(_ shape: [Int], _ data: [Double]) throws -> Tensor {
    try Tensor(shape: shape, data: data)
}

/// A 1-D tensor.
func vector(_ data: [Double]) throws -> Tensor {
    try Tensor(shape: [data.count], data: data)
}

/// A 2-D tensor from its rows.
func matrix(_ rows: [[Double]]) throws -> Tensor {
    try Tensor(shape: [rows.count, rows.first?.count ?? 0], data: rows.flatMap { $0 })
}

func scalar(_ value: Double) -> Tensor {
    Tensor(scalar: value)
}

/// A tensor of `shape` with every element `value`.
func filled(_ value: Double, _ shape: [Int]) throws -> Tensor {
    try Tensor(shape: shape, data: [Double](repeating: value, count: shape.reduce(1, *)))
}

func elementCount(_ shape: [Int]) -> Int {
    shape.reduce(1, *)
}

// MARK: Attributes

extension AttributeValue {
    static func ints(_ values: [Int]) -> AttributeValue {
        .array(values.map { .number(Double($0)) })
    }

    static func int(_ value: Int) -> AttributeValue {
        .number(Double(value))
    }
}

// MARK: Graphs

/// A node whose arguments are names, or numbers written as strings (`"2.5"` is the scalar literal 2.5).
func node(_ id: String, _ op: Op, _ args: String..., attrs: [String: AttributeValue] = [:]) -> NodeSpec {
    nodeSpec(id, op.rawValue, args, attrs: attrs)
}

/// Like `node`, for op names that are not (or not yet) in `Op`.
func nodeSpec(_ id: String, _ op: String, _ args: [String], attrs: [String: AttributeValue] = [:]) -> NodeSpec {
    NodeSpec(id: id, op: op, args: args.map { Double($0).map(ArgumentSpec.number) ?? .name($0) }, attrs: attrs)
}

func graph(
    inputs: [String], constants: [String: Tensor] = [:], limits: Limits = Limits(), _ nodes: NodeSpec...
) throws -> Graph {
    try Graph(GraphSpec(inputs: inputs, constants: constants, nodes: nodes), limits: limits)
}

/// The graph `y = op(x0, x1, …)` over inputs `x0…x(arity-1)`.
func single(_ op: Op, arity: Int, attrs: [String: AttributeValue] = [:]) throws -> Graph {
    let inputs = (0..<arity).map { "x\($0)" }
    return try Graph(
        GraphSpec(
            inputs: inputs,
            nodes: [
                NodeSpec(id: "y", op: op.rawValue, args: inputs.map(ArgumentSpec.name), attrs: attrs)
            ]))
}

extension Graph {
    /// The value of output `y`.
    func value(_ values: [String: Tensor]) throws -> Tensor {
        try value("y", values)
    }

    /// The value of one output.
    func value(_ output: String, _ values: [String: Tensor]) throws -> Tensor {
        let result = try forward(values: values, outputs: [output])
        return try #require(result[output], "forward returned no value for \(output)")
    }

    /// The gradients of one output for a seed (default: ones).
    func gradients(
        of output: String = "y", _ values: [String: Tensor], seed: Seed = .ones, wrt: [String]? = nil
    ) throws -> [String: Tensor] {
        try backward(values: values, outputs: [output], seeds: [output: seed], wrt: wrt).gradients
    }

    /// The gradient of output `y` (seed ones unless given) with respect to one input.
    func gradient(_ values: [String: Tensor], wrt input: String, seed: Seed = .ones) throws -> Tensor {
        try gradient("y", values, wrt: input, seed: seed)
    }

    /// The gradient of `output` (seed ones unless given) with respect to one input.
    func gradient(_ output: String, _ values: [String: Tensor], wrt input: String, seed: Seed = .ones) throws -> Tensor
    {
        let gradients = try gradients(of: output, values, seed: seed, wrt: [input])
        return try #require(gradients[input], "backward returned no gradient for \(input)")
    }
}

// MARK: Deterministic randomness

/// SplitMix64: a tiny, fixed, seedable generator so every run samples the same points.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    /// Seeded from a label (FNV-1a), so a case keeps its points when others are added.
    init(label: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in label.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        state = hash
    }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / Double(1 << 53)
    }

    mutating func tensor(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1) throws -> Tensor {
        try Tensor(shape: shape, data: (0..<elementCount(shape)).map { _ in uniform(lo, hi) })
    }
}
