import Foundation
import Testing

@testable import AutodiffCore

/// A graph keeps every node's arguments end to end in one array, its attributes and constants in
/// tables by index, and differentiation appends to those. What a user sees must not depend on it:
/// nodes listed in any order keep their own op, arguments and attributes, arguments shared or
/// repeated reach every reader, and every mode over deep chains agrees with finite differences.
@Suite("Flat program layout")
struct FlatLayoutTests {
    /// Inputs `x` [2, 3] and `w` [3, 2], a constant `c` [3], values read by several nodes and
    /// twice by one, literals, nodes with and without attributes, and a six-argument `concat`.
    static let nodes: [NodeSpec] = [
        node("s", .sin, "x"),
        node("t", .transpose, "w", attrs: ["perm": .ints([1, 0])]),
        node("m", .mul, "s", "t"),
        node("e", .add, "m", "c"),
        node("p", .mul, "s", "s"),
        node("h", .mul, "p", "0.5"),
        node("r", .reshape, "e", attrs: ["shape": .ints([3, 2])]),
        node("mm", .matmul, "x", "r"),
        node("k", .concat, "s", "m", "e", "s", "h", "t", attrs: ["axis": .int(0)]),
        node("q", .sum, "k", attrs: ["axes": .ints([0])]),
        node("z", .tanh, "q"),
        node("u", .sum, "mm"),
        node("v", .sum, "z"),
        node("y", .add, "u", "v"),
    ]

    static func spec(_ nodes: [NodeSpec]) throws -> GraphSpec {
        GraphSpec(inputs: ["x", "w"], constants: ["c": try vector([0.25, -1.5, 2])], nodes: nodes)
    }

    static func values() throws -> [String: Tensor] {
        var rng = SplitMix64(label: "flat layout")
        return ["x": try rng.tensor([2, 3]), "w": try rng.tensor([3, 2])]
    }

    /// Every node by its name.
    static func byName(_ spec: GraphSpec) -> [String: NodeSpec] {
        Dictionary(uniqueKeysWithValues: spec.nodes.map { ($0.id, $0) })
    }

    @Test func nodesListedInAnyOrderKeepTheirOwnArgumentsAndAttributes() throws {
        let ordered = try Graph(try Self.spec(Self.nodes))
        let values = try Self.values()
        let reference = try ordered.forward(values: values, outputs: Self.nodes.map(\.id))
        let listings = [("reversed", Array(Self.nodes.reversed())), ("rotated", Array(Self.nodes[7...] + Self.nodes[..<7]))]
        for (label, nodes) in listings {
            let graph = try Graph(try Self.spec(nodes))
            // Listed in another order, the graph renumbers its slots: each node still has its own
            // op, arguments (in their order) and attributes, as its client form shows.
            #expect(Self.byName(graph.spec) == Self.byName(ordered.spec), "\(label)")
            #expect(graph.spec.constants == ordered.spec.constants, "\(label)")
            let forward = try graph.forward(values: values, outputs: Self.nodes.map(\.id))
            for node in Self.nodes {
                #expect(forward[node.id] == reference[node.id], "\(label): \(node.id)")
            }
            // And so do the nodes differentiation appends (the returned backward graph, run as a graph).
            let result = try graph.backward(
                values: values, outputs: ["y"], seeds: ["y": .ones], options: BackwardOptions(returnGraph: true))
            let returned = try #require(result.backwardGraph)
            var feed = values
            feed["seed:y"] = scalar(1)
            let rerun = try Graph(returned.graph).forward(values: feed, outputs: returned.outputs.values.sorted())
            for (input, gradientNode) in returned.outputs {
                #expect(result.gradients[input] == rerun[gradientNode], "\(label): gradient of \(input)")
            }
        }
    }

    @Test func sharedAndRepeatedArgumentsInEveryModeMatchFiniteDifferences() throws {
        let graph = try Graph(try Self.spec(Array(Self.nodes.reversed())))
        let values = try Self.values()
        var rng = SplitMix64(label: "flat layout modes")
        try FiniteDifference.checkVJP(graph, values, rng: &rng, label: "reversed listing")
        try Self.expectModesMatchFiniteDifferences(graph, values, output: "y", rng: &rng)
    }

    @Test func manyArgumentsEachReachTheirReader() throws {
        // y = Σ concat(x, s, x, s, …), 48 arguments: dy/dx = 24 + 24·cos(x) (summed one by one).
        let args = (0..<48).map { $0 % 2 == 0 ? "x" : "s" }
        let graph = try Graph(
            GraphSpec(
                inputs: ["x"],
                nodes: [
                    nodeSpec("k", "concat", args), node("s", .sin, "x"), node("y", .sum, "k"),
                ]))
        let x = try vector([0.5, -1, 2])
        let result = try graph.backward(values: ["x": x], outputs: ["y"], seeds: ["y": .ones])
        let expected = try vector(x.data.map { 24 + 24 * cos($0) })
        expectClose(result.gradients["x"], expected, rtol: 1e-13, atol: 0, "dy/dx")
        #expect(try graph.value(["x": x]).shape == [])
    }

    @Test func deepChainWithAttributesAndLiteralsInEveryMode() throws {
        // 3 000 nodes: sin, a product with a literal, and a reshape to [1, 3] and back, in turn.
        var nodes: [NodeSpec] = []
        var last = "x"
        for index in 0..<1_000 {
            let shape = index % 2 == 0 ? [1, 3] : [3]
            nodes.append(node("a\(index)", .sin, last))
            nodes.append(node("b\(index)", .mul, "a\(index)", "1.25"))
            nodes.append(node("c\(index)", .reshape, "b\(index)", attrs: ["shape": .ints(shape)]))
            last = "c\(index)"
        }
        nodes.append(node("y", .sum, last))
        let graph = try Graph(GraphSpec(inputs: ["x"], nodes: nodes))
        let values = ["x": try vector([0.3, -0.7, 1.1])]
        var rng = SplitMix64(label: "flat layout chain")
        try FiniteDifference.checkVJP(graph, values, rng: &rng, label: "deep chain")
        try Self.expectModesMatchFiniteDifferences(graph, values, output: "y", rng: &rng)
    }

    /// JVP, HVP and the Jacobian of the one-element `output` agree with central differences (and
    /// the Jacobian with the gradient).
    static func expectModesMatchFiniteDifferences(
        _ graph: Graph, _ values: [String: Tensor], output: String, rng: inout SplitMix64,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let h = 1e-6
        let directions = try values.mapValues { try rng.tensor($0.shape) }
        func shifted(_ sign: Double, _ step: Double) throws -> [String: Tensor] {
            try values.reduce(into: [:]) { out, entry in
                let d = try #require(directions[entry.key])
                let data = zip(entry.value.data, d.data).map { $0 + sign * step * $1 }
                out[entry.key] = try tensor(entry.value.shape, data)
            }
        }
        let jvp = try graph.jvp(values: values, outputs: [output], tangents: directions)
        let plus = try graph.value(output, try shifted(1, h))
        let minus = try graph.value(output, try shifted(-1, h))
        let fd = try tensor(plus.shape, zip(plus.data, minus.data).map { ($0 - $1) / (2 * h) })
        expectClose(jvp.tangents[output], fd, rtol: 1e-5, atol: 1e-7, "J·t", sourceLocation: sourceLocation)

        let hvp = try graph.hvp(values: values, output: output, vectors: directions)
        let step = 1e-5
        let gradientsPlus = try graph.gradients(of: output, try shifted(1, step))
        let gradientsMinus = try graph.gradients(of: output, try shifted(-1, step))
        let gradients = try graph.gradients(of: output, values)
        let jacobian = try graph.jacobian(values: values, outputs: [output]).jacobian[output]
        for input in values.keys.sorted() {
            let p = try #require(gradientsPlus[input])
            let m = try #require(gradientsMinus[input])
            let fd = try tensor(p.shape, zip(p.data, m.data).map { ($0 - $1) / (2 * step) })
            expectClose(hvp.hvp[input], fd, rtol: 1e-5, atol: 1e-7, "H·v for \(input)", sourceLocation: sourceLocation)
            let gradient = try #require(gradients[input])
            expectClose(hvp.gradients[input], gradient, rtol: 1e-14, atol: 0, "hvp's gradient of \(input)",
                sourceLocation: sourceLocation)
            expectClose(jacobian?[input], gradient, rtol: 1e-14, atol: 0, "Jacobian for \(input)",
                sourceLocation: sourceLocation)
        }
    }
}
