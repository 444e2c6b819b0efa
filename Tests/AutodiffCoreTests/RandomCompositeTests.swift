import Testing

@testable import AutodiffCore

/// Random compositions of smooth ops, with broadcasting, shared subexpressions and reductions, checked
/// against central finite differences: gradient accumulation across paths is where single-op checks
/// cannot look.
@Suite("Random composite graphs")
struct RandomCompositeTests {
    static let unary: [Op] = [.tanh, .sin, .sigmoid, .square, .neg, .erf, .softplus, .expm1]
    static let binary: [Op] = [.add, .sub, .mul]
    static let reductions: [Op] = [.sum, .mean, .logsumexp]

    /// A random graph over inputs of shapes [2,3], [3], [2,1] and [] (which always broadcast together)
    /// whose last node is the output.
    static func randomGraph(_ rng: inout SplitMix64) -> GraphSpec {
        func pick<T>(_ items: [T], _ rng: inout SplitMix64) -> T { items[Int(rng.next() % UInt64(items.count))] }
        var names = ["a", "b", "c", "d"]
        var nodes: [NodeSpec] = []
        let count = 3 + Int(rng.next() % 6)
        for i in 0..<count {
            let id = "n\(i)"
            // Prefer recent nodes so graphs are deep, but reuse older names to share subexpressions.
            let recent = Array(names.suffix(3))
            let roll = rng.uniform(0, 1)
            if roll < 0.4 {
                nodes.append(node(id, pick(binary, &rng), pick(recent, &rng), pick(names, &rng)))
            } else if roll < 0.8 {
                nodes.append(node(id, pick(unary, &rng), pick(recent, &rng)))
            } else if roll < 0.9 {
                nodes.append(node(id, .softmax, pick(recent, &rng), attrs: ["axis": .int(-1)]))
            } else {
                nodes.append(
                    node(
                        id, pick(reductions, &rng), pick(recent, &rng),
                        attrs: ["axes": .ints([-1]), "keepdims": .bool(true)]))
            }
            names.append(id)
        }
        return GraphSpec(inputs: ["a", "b", "c", "d"], nodes: nodes)
    }

    @Test("gradients of random smooth graphs match finite differences", arguments: 0..<40)
    func randomGraph(index: Int) throws {
        var rng = SplitMix64(seed: 0xc0ffee + UInt64(index))
        let spec = Self.randomGraph(&rng)
        let g = try Graph(spec)
        let values = [
            "a": try rng.tensor([2, 3]), "b": try rng.tensor([3]), "c": try rng.tensor([2, 1]), "d": try rng.tensor([]),
        ]
        let output = spec.nodes.last!.id
        let ops = spec.nodes.map { "\($0.id)=\($0.op)(\($0.args.map { "\($0)" }.joined(separator: ",")))" }
        try FiniteDifference.checkVJP(g, values, output: output, rng: &rng, label: ops.joined(separator: " "))
    }
}
