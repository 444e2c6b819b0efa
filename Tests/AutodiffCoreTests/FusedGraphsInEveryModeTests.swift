import Testing

@testable import AutodiffCore

/// Fused elementwise groups (`Fusion`) in graphs the fusion tests' chains do not reach: arguments
/// broadcast from one-element tensors of any rank and along rows or columns, empty tensors, a node
/// read twice by the same node, intermediates that are outputs too, groups cut by reductions,
/// layout ops and matrix products; through every entry point (forward, backward with ones and
/// random seeds, batched seeds, the returned graph and its own backward, Jacobian, jvp and hvp).
/// Every value and every error must be the unfused evaluation's, bit for bit.
@Suite("Fused graphs in every mode")
struct FusedGraphsInEveryModeTests {
    /// Where `a` and `b` differ: their error, their shape, or the first element whose bits differ.
    static func difference(_ a: Result<[String: Tensor], AutodiffError>, _ b: Result<[String: Tensor], AutodiffError>)
        -> String?
    {
        switch (a, b) {
        case (.failure(let x), .failure(let y)):
            return x == y ? nil : "errors \(x) and \(y)"
        case (.success, .failure(let y)):
            return "only the unfused evaluation failed: \(y)"
        case (.failure(let x), .success):
            return "only the fused evaluation failed: \(x)"
        case (.success(let x), .success(let y)):
            guard x.keys.sorted() == y.keys.sorted() else { return "results \(x.keys.sorted()) and \(y.keys.sorted())" }
            for key in x.keys.sorted() {
                if let difference = FusionTests.difference(x[key], y[key]) { return "\(key): \(difference)" }
            }
            return nil
        }
    }

    /// `body`'s results, or its error, fused and unfused.
    static func both(_ body: () throws(AutodiffError) -> [String: Tensor])
        -> (fused: Result<[String: Tensor], AutodiffError>, unfused: Result<[String: Tensor], AutodiffError>)
    {
        let fused = Result { () throws(AutodiffError) in try body() }
        let unfused = Fusion.$isEnabled.withValue(false) { Result { () throws(AutodiffError) in try body() } }
        return (fused, unfused)
    }

    /// The shapes of one case: `a`'s, and shapes that broadcast against it.
    struct Shapes {
        let a: [Int]
        let others: [[Int]]
    }

    static let shapeCases: [Shapes] = [
        Shapes(a: [3, 5], others: [[3, 5], [1, 5], [3, 1], [1], [1, 1], [], [5]]),
        Shapes(a: [2, 3, 4], others: [[2, 3, 4], [3, 4], [1, 3, 1], [1, 1, 1], [4], []]),
        Shapes(a: [Fusion.blockSize + 3], others: [[Fusion.blockSize + 3], [1], []]),
        Shapes(a: [2, Fusion.blockSize + 1], others: [[2, Fusion.blockSize + 1], [2, 1], [1, 1], [1]]),
        Shapes(a: [0, 3], others: [[0, 3], [1, 3], [3], [1], []]),
        Shapes(a: [4, 0], others: [[4, 0], [4, 1], [1], []]),
        Shapes(a: [1], others: [[1], [], [1, 1]]),
        Shapes(a: [], others: [[], [1]]),
    ]

    static let unary: [(Op, [String: AttributeValue])] = [
        (.tanh, [:]), (.sin, [:]), (.cos, [:]), (.exp, [:]), (.sigmoid, [:]), (.square, [:]), (.neg, [:]),
        (.relu, [:]), (.abs, [:]), (.softplus, [:]), (.elu, [:]), (.gelu, ["approximate": .string("tanh")]),
        (.clamp, ["min": .number(-0.5), "max": .number(0.5)]), (.log1p, [:]), (.erf, [:]), (.floor, [:]),
    ]
    static let binary: [Op] = [.add, .sub, .mul, .div, .maximum, .minimum, .pow, .gt, .eq]

    /// A random graph over `a`, `b` and `c` (of the case's shapes): mostly elementwise nodes chained
    /// or reading older values, a node reading one value twice, now and then a node no group can
    /// hold (a reduction with kept dimensions, a transpose and back, a reshape to the same shape,
    /// a `where`); its outputs: the last node, sometimes an intermediate as well.
    static func randomGraph(_ rng: inout SplitMix64, rank: Int) -> (GraphSpec, [String]) {
        func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
        var names = ["a", "b", "c"]
        var nodes: [NodeSpec] = []
        let count = 3 + Int(rng.next() % 10)
        for i in 0..<count {
            let id = "n\(i)"
            let last = names[names.count - 1]
            let roll = rng.uniform(0, 1)
            if roll < 0.35 {
                let (op, attrs) = pick(unary)
                nodes.append(node(id, op, rng.uniform(0, 1) < 0.8 ? last : pick(names), attrs: attrs))
            } else if roll < 0.65 {
                let (lhs, rhs) = rng.uniform(0, 1) < 0.5 ? (last, pick(names)) : (pick(names), last)
                nodes.append(node(id, pick(binary), lhs, rhs))
            } else if roll < 0.75 {
                // One value read twice by the same node.
                nodes.append(node(id, pick([Op.mul, .add, .sub, .maximum]), last, last))
            } else if roll < 0.82 {
                let literal = pick(["2", "-0.5", "0", "3"])
                let (lhs, rhs) = rng.uniform(0, 1) < 0.5 ? (last, literal) : (literal, last)
                nodes.append(node(id, pick(binary), lhs, rhs))
            } else if roll < 0.87, rank > 0 {
                nodes.append(node(id, .sum, last, attrs: ["axes": .ints([-1]), "keepdims": .bool(true)]))
            } else if roll < 0.92, rank > 1 {
                nodes.append(node("\(id)t", .transpose, last))
                nodes.append(node(id, .transpose, "\(id)t"))
            } else if roll < 0.96 {
                nodes.append(node(id, .where, pick(names), last, pick(names)))
            } else {
                nodes.append(node(id, .squeeze, last, attrs: ["axes": .ints([])]))
            }
            names.append(id)
        }
        var outputs = [names[names.count - 1]]
        if rng.uniform(0, 1) < 0.4 { outputs.append(nodes[Int(rng.next() % UInt64(nodes.count))].id) }
        return (GraphSpec(inputs: ["a", "b", "c"], nodes: nodes), outputs)
    }

    /// Every entry point on `spec`, fused and unfused; the first difference, if any.
    static func differences(
        _ spec: GraphSpec, outputs: [String], values: [String: Tensor], rng: inout SplitMix64
    ) throws -> [String] {
        var found: [String] = []
        func compare(_ what: String, _ body: () throws(AutodiffError) -> [String: Tensor]) {
            let (fused, unfused) = both(body)
            if let difference = difference(fused, unfused) { found.append("\(what): \(difference)") }
        }
        let graph = try Graph(spec)
        let limits = Limits()
        compare("forward") { () throws(AutodiffError) in try graph.forward(values: values, outputs: outputs) }
        guard case .success(let forward) = Result(catching: { try graph.forward(values: values, outputs: outputs) })
        else { return found }
        var seeds: [String: Seed] = [:]
        var batched: [String: Seed] = [:]
        let rows = 1 + Int(rng.next() % 3)
        for name in outputs {
            let shape = try #require(forward[name]).shape
            seeds[name] = rng.uniform(0, 1) < 0.5 ? .ones : .tensor(try rng.tensor(shape, -2, 2))
            batched[name] = .tensor(try rng.tensor([rows] + shape, -2, 2))
        }
        compare("backward") { () throws(AutodiffError) in
            let result = try graph.backward(values: values, outputs: outputs, seeds: seeds)
            return result.gradients.merging(result.outputs) { gradient, _ in gradient }
        }
        compare("batched backward") { () throws(AutodiffError) in
            try graph.backward(
                values: values, outputs: outputs, seeds: batched, options: BackwardOptions(batched: true)
            ).gradients
        }
        // The returned graph, and its own backward (second derivatives), on the values the first gave.
        if let returned = try? graph.backward(
            values: values, outputs: outputs, seeds: seeds.mapValues { _ in .ones },
            options: BackwardOptions(returnGraph: true)
        ).backwardGraph, let second = try? Graph(returned.graph), let target = returned.outputs["a"] {
            var secondValues = values
            for name in outputs { secondValues["seed:\(name)"] = try filled(1, try #require(forward[name]).shape) }
            compare("second backward") { () throws(AutodiffError) in
                try second.backward(values: secondValues, outputs: [target], seeds: [target: .ones]).gradients
            }
        }
        if values.values.allSatisfy({ $0.count <= 64 }) {
            compare("jacobian") { () throws(AutodiffError) in
                let result = try graph.jacobian(values: values, outputs: outputs, limits: limits)
                var flat: [String: Tensor] = [:]
                for (output, row) in result.jacobian {
                    for (input, block) in row { flat["\(output)/\(input)"] = block }
                }
                return flat
            }
        }
        let tangents = try values.mapValues { try rng.tensor($0.shape, -1, 1) }
        compare("jvp") { () throws(AutodiffError) in
            try graph.jvp(values: values, outputs: outputs, tangents: tangents).tangents
        }
        // hvp of the sum of the last output.
        var summed = spec
        summed.nodes.append(node("total", .sum, outputs[0]))
        let summedGraph = try Graph(summed)
        compare("hvp") { () throws(AutodiffError) in
            let result = try summedGraph.hvp(values: values, output: "total", vectors: tangents)
            return result.hvp.merging(result.gradients.map { ("d" + $0.key, $0.value) }) { hvp, _ in hvp }
        }
        return found
    }

    @Test("random graphs with broadcasting, empty tensors and repeated reads give the unfused values in every mode",
        arguments: shapeCases.indices)
    func everyMode(caseIndex: Int) throws {
        let shapes = Self.shapeCases[caseIndex]
        var rng = SplitMix64(label: "fused modes \(caseIndex)")
        for index in 0..<24 {
            let (spec, outputs) = Self.randomGraph(&rng, rank: shapes.a.count)
            let bShape = shapes.others[Int(rng.next() % UInt64(shapes.others.count))]
            let cShape = shapes.others[Int(rng.next() % UInt64(shapes.others.count))]
            let values = [
                "a": try rng.tensor(shapes.a, -2, 2), "b": try rng.tensor(bShape, 0.1, 2),
                "c": try rng.tensor(cShape, -1, 1),
            ]
            let found = try Self.differences(spec, outputs: outputs, values: values, rng: &rng)
            let label = "shapes \(shapes.a), \(bShape), \(cShape); graph \(index): "
                + spec.nodes.map { "\($0.id)=\($0.op)\($0.args)" }.joined(separator: " ")
            #expect(found.isEmpty, "\(found) — \(label)")
        }
    }

    @Test("a group whose root is an output and whose members are read twice gives the unfused values in every mode")
    func outputsAndRepeatedReads() throws {
        var rng = SplitMix64(label: "fused outputs")
        // t is read twice by u; u is an output and read by w; w's group holds v.
        let spec = GraphSpec(
            inputs: ["a", "b", "c"],
            nodes: [
                node("t", .tanh, "a"), node("u", .mul, "t", "t"), node("v", .sin, "b"), node("w", .add, "u", "v"),
                node("z", .mul, "w", "c"),
            ])
        for shapes in [([4, 3], [1, 3], [1]), ([Fusion.blockSize * 2 + 1], [1], []), ([0, 2], [2], [1, 1])] {
            let values = [
                "a": try rng.tensor(shapes.0), "b": try rng.tensor(shapes.1), "c": try rng.tensor(shapes.2),
            ]
            for outputs in [["z"], ["z", "u"], ["u", "w"], ["t", "z"]] {
                let found = try Self.differences(spec, outputs: outputs, values: values, rng: &rng)
                #expect(found.isEmpty, "\(found) — shapes \(shapes), outputs \(outputs)")
            }
        }
    }
}
