import Testing

@testable import AutodiffCore

/// Planned execution keeps values in places of one arena that later values reuse once nothing reads
/// them any more, and folds transposes of the last two axes into the matrix products that read
/// them. Neither may change a value: results equal, bit for bit, a plain evaluation that computes
/// every node of the graph into a tensor of its own (transposes materialised).
@Suite("Planned execution")
struct PlannedExecutionTests {
    // MARK: Reference

    /// Every node of `spec`, in order, each into a fresh tensor (no reuse, no folding).
    static func plainEvaluation(_ spec: GraphSpec, _ values: [String: Tensor]) throws -> [String: Tensor] {
        var known = values.merging(spec.constants) { $1 }
        for node in spec.nodes {
            let op = try #require(Op(rawValue: node.op))
            let args = try node.args.map { arg -> Tensor in
                switch arg {
                case .name(let name): try #require(known[name], "\(name) is not computed before \(node.id)")
                case .number(let value): Tensor(scalar: value)
                }
            }
            let attrs = try Attributes(validating: node.attrs, op: op, node: node.id)
            let plan = try op.plan(node: node.id, attrs: attrs, args: args.map(\.shape), limits: Limits())
            known[node.id] = try op.evaluate(args, plan: plan, attrs: attrs, deadline: nil)
        }
        return known
    }

    /// Forward values and gradients of `spec` (seed ones on each output) equal the plain
    /// evaluation of the graph and of its returned backward graph, bit for bit.
    static func expectPlainValues(
        _ spec: GraphSpec, _ values: [String: Tensor], outputs: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let graph = try Graph(spec)
        let plain = try plainEvaluation(spec, values)
        let forward = try graph.forward(values: values, outputs: outputs)
        for name in outputs {
            #expect(forward[name] == plain[name], "forward \(name)", sourceLocation: sourceLocation)
        }
        let seeds = Dictionary(uniqueKeysWithValues: outputs.map { ($0, Seed.ones) })
        for cache in [nil, PlanCache()] {
            for _ in 0..<2 {
                let result = try graph.backward(
                    values: values, outputs: outputs, seeds: seeds, options: BackwardOptions(returnGraph: true),
                    cache: cache)
                let returned = try #require(result.backwardGraph)
                var feed = values
                for name in outputs { feed["seed:\(name)"] = try filled(1, try #require(plain[name]).shape) }
                let reference = try plainEvaluation(returned.graph, feed)
                for name in outputs {
                    #expect(result.outputs[name] == plain[name], "output \(name)", sourceLocation: sourceLocation)
                }
                for (input, gradientNode) in returned.outputs {
                    #expect(
                        result.gradients[input] == reference[gradientNode], "gradient of \(input)",
                        sourceLocation: sourceLocation)
                }
            }
        }
    }

    // MARK: Buffer reuse

    @Test("a value read by a node far later survives the values computed in between")
    func farRead() throws {
        var nodes = [node("a", .exp, "x")]
        var previous = "a"
        for i in 0..<40 {
            nodes.append(node("c\(i)", i % 2 == 0 ? .sin : .tanh, previous))
            previous = "c\(i)"
        }
        nodes.append(node("out", .mul, previous, "a"))
        nodes.append(node("total", .sum, "out"))
        var random = SplitMix64(label: "far read")
        try Self.expectPlainValues(
            GraphSpec(inputs: ["x"], nodes: nodes), ["x": try random.tensor([7])], outputs: ["total"])
    }

    @Test("diamonds, and values that are outputs and read later, keep their values")
    func diamondsAndOutputs() throws {
        let spec = GraphSpec(
            inputs: ["x", "y"], constants: ["k": Tensor(scalar: 1.5)],
            nodes: [
                node("p", .sin, "x"), node("q", .cos, "p"), node("r", .tanh, "p"), node("s", .add, "q", "r"),
                node("t", .mul, "s", "p"), node("u", .mul, "t", "y"), node("v", .sub, "u", "k"),
                node("w", .mul, "v", "2.0"), node("z", .add, "w", "t"), node("m", .max, "z"),
                node("e", .exp, "m"), node("n", .mul, "e", "q"),
            ])
        var random = SplitMix64(label: "diamonds")
        let values = ["x": try random.tensor([3, 4]), "y": try random.tensor([4])]
        try Self.expectPlainValues(spec, values, outputs: ["n", "t", "q"])
        try Self.expectPlainValues(spec, values, outputs: ["p"])
    }

    @Test("outputs that are inputs or constants, and literals read by many nodes")
    func outputsThatAreNotComputed() throws {
        let spec = GraphSpec(
            inputs: ["x"], constants: ["c": try vector([1, 2, 3])],
            nodes: [
                node("a", .mul, "x", "3.0"), node("b", .add, "a", "3.0"), node("d", .mul, "b", "c"),
                node("e", .pow, "d", "3.0"),
            ])
        let graph = try Graph(spec)
        let x = try vector([0.5, -1, 2])
        let result = try graph.forward(values: ["x": x], outputs: ["e", "x", "c", "a"])
        let plain = try Self.plainEvaluation(spec, ["x": x])
        for name in ["e", "x", "c", "a"] { #expect(result[name] == plain[name], "\(name)") }
        try Self.expectPlainValues(spec, ["x": x], outputs: ["e"])
    }

    @Test("elementwise nodes that share a plan by argument shapes, among other ops of those shapes")
    func sharedElementwisePlans() throws {
        // More combinations of argument shapes than a program keeps, taken in turn and repeated;
        // reductions and layout ops with the same argument shapes in between; a literal where a
        // scalar value also is. Differentiating adds many more such nodes.
        let spec = GraphSpec(
            inputs: ["v", "m", "s"],
            nodes: [
                node("a", .mul, "v", "v"), node("b", .sum, "v"), node("c", .add, "m", "v"),
                node("d", .sub, "s", "b"), node("e", .neg, "v"), node("f", .mul, "c", "m"),
                node("g", .add, "v", "m"), node("h", .mul, "d", "2.0"), node("i", .exp, "v"),
                node("j", .transpose, "m"), node("k", .tanh, "m"), node("l", .mul, "v", "a"),
                node("n", .add, "g", "f"), node("o", .where, "k", "c", "g"), node("p", .sub, "1.0", "s"),
                node("q", .mul, "e", "i"), node("r", .sum, "o"), node("t", .sum, "j"),
                node("u", .add, "r", "t"), node("w", .mul, "u", "h"), node("x", .add, "w", "p"),
                node("y", .sum, "q"), node("z", .add, "x", "y"),
            ])
        var random = SplitMix64(label: "shared plans")
        let (v, m) = (try random.tensor([3]), try random.tensor([2, 3]))
        try Self.expectPlainValues(spec, ["v": v, "m": m, "s": Tensor(scalar: 0.25)], outputs: ["z", "n", "l"])
        // Shapes that do not broadcast are refused by name after the same op planned other shapes.
        let refused = GraphSpec(
            inputs: ["v", "m", "w"],
            nodes: [node("a", .add, "v", "v"), node("b", .add, "m", "v"), node("c", .add, "v", "w")])
        expectError("shape_mismatch", node: "c", mentions: ["[3]", "[4]"]) {
            _ = try Graph(refused).forward(values: ["v": v, "m": m, "w": try filled(1, [4])], outputs: ["c"])
        }
    }

    @Test("a softmax classifier with broadcasting, reductions, where and concat")
    func mixedOps() throws {
        let spec = GraphSpec(
            inputs: ["x", "w", "b", "target"],
            nodes: [
                node("h", .matmul, "x", "w"), node("a", .add, "h", "b"), node("r", .relu, "a"),
                node("pos", .gt, "a", "0.0"), node("g", .where, "pos", "r", "a"),
                node("both", .concat, "g", "r", attrs: ["axis": .int(1)]),
                node("sl", .slice, "both", attrs: ["starts": .ints([1]), "ends": .ints([5]), "axes": .ints([1])]),
                node("sm", .softmax, "sl", attrs: ["axis": .int(1)]),
                node("lp", .logSoftmax, "sl", attrs: ["axis": .int(1)]), node("pick", .mul, "lp", "target"),
                node("rows", .sum, "pick", attrs: ["axes": .ints([1])]), node("mean", .mean, "rows"),
                node("lse", .logsumexp, "sm"), node("loss", .sub, "lse", "mean"),
            ])
        var random = SplitMix64(label: "mixed")
        let values = [
            "x": try random.tensor([5, 3]), "w": try random.tensor([3, 4]), "b": try random.tensor([4]),
            "target": try random.tensor([5, 4], 0, 1),
        ]
        try Self.expectPlainValues(spec, values, outputs: ["loss"])
        try Self.expectPlainValues(spec, values, outputs: ["loss", "sm", "h"])
    }

    @Test("batched rows each equal a call with that row's seed alone")
    func batchedRows() throws {
        let spec = GraphSpec(
            inputs: ["x", "w"],
            nodes: [
                node("h", .matmul, "x", "w"), node("t", .tanh, "h"), node("s", .sigmoid, "t"),
                node("y", .mul, "s", "h"),
            ])
        let graph = try Graph(spec)
        var random = SplitMix64(label: "batched rows")
        let values = ["x": try random.tensor([2, 3]), "w": try random.tensor([3, 4])]
        let seeds = try random.tensor([3, 2, 4])
        for cache in [nil, PlanCache()] {
            let batched = try graph.backward(
                values: values, outputs: ["y"], seeds: ["y": .tensor(seeds)], options: BackwardOptions(batched: true),
                cache: cache)
            for row in 0..<3 {
                let seed = try tensor([2, 4], Array(seeds.data[(row * 8)..<((row + 1) * 8)]))
                let single = try graph.backward(values: values, outputs: ["y"], seeds: ["y": .tensor(seed)])
                for input in ["x", "w"] {
                    let all = try #require(batched.gradients[input])
                    let size = all.count / 3
                    #expect(Array(all.data[(row * size)..<((row + 1) * size)]) == single.gradients[input]?.data)
                }
            }
        }
    }

    @Test("Jacobian rows equal backward passes seeded with the rows of the identity")
    func jacobianRows() throws {
        var nodes = [node("a", .matmul, "w", "x")]
        var previous = "a"
        for i in 0..<12 {
            nodes.append(node("c\(i)", [Op.sin, .tanh, .cos, .sigmoid][i % 4], previous))
            previous = "c\(i)"
        }
        nodes.append(node("y", .mul, previous, "a"))
        let graph = try Graph(GraphSpec(inputs: ["w", "x"], nodes: nodes))
        var random = SplitMix64(label: "jacobian rows")
        let values = ["w": try random.tensor([3, 4]), "x": try random.tensor([4])]
        let jacobian = try graph.jacobian(values: values, outputs: ["y"])
        for row in 0..<3 {
            var basis = [0.0, 0, 0]
            basis[row] = 1
            let single = try graph.backward(values: values, outputs: ["y"], seeds: ["y": .tensor(try vector(basis))])
            for (input, size) in [("w", 12), ("x", 4)] {
                let all = try #require(jacobian.jacobian["y"]?[input])
                #expect(Array(all.data[(row * size)..<((row + 1) * size)]) == single.gradients[input]?.data)
            }
        }
    }

    // MARK: Transposes folded into matrix products

    @Test(
        "matmul gradients with transposes folded into the product equal the materialised ones bit for bit",
        arguments: [
            ([64, 256], [256, 32]), ([5, 3], [3, 4]), ([2, 3, 4], [4, 5]), ([2, 3, 4], [2, 4, 5]),
            ([4], [4, 5]), ([3, 4], [4]), ([2, 1, 3, 4], [5, 4, 2]), ([1, 7], [7, 1]), ([0, 3], [3, 2]),
        ])
    func foldedTransposes(lhs: [Int], rhs: [Int]) throws {
        let spec = GraphSpec(
            inputs: ["a", "b"],
            nodes: [node("p", .matmul, "a", "b"), node("q", .tanh, "p"), node("loss", .sum, "q")])
        var random = SplitMix64(label: "folded \(lhs) \(rhs)")
        try Self.expectPlainValues(spec, ["a": try random.tensor(lhs), "b": try random.tensor(rhs)], outputs: ["loss"])
    }

    @Test("an explicit transpose read by a product and by another node is still computed")
    func transposeReadElsewhere() throws {
        let spec = GraphSpec(
            inputs: ["a", "b"],
            nodes: [
                node("bt", .transpose, "b"), node("p", .matmul, "a", "bt"), node("e", .exp, "bt"),
                node("s1", .sum, "p"), node("s2", .sum, "e"), node("loss", .add, "s1", "s2"),
            ])
        var random = SplitMix64(label: "transpose read elsewhere")
        let values = ["a": try random.tensor([3, 4]), "b": try random.tensor([5, 4])]
        try Self.expectPlainValues(spec, values, outputs: ["loss"])
        try Self.expectPlainValues(spec, values, outputs: ["loss", "bt"])
    }

    // MARK: Inputs read in place, results written directly

    /// A copy of `values` with storage of its own, so that a write through a shared buffer shows.
    static func deepCopy(_ values: [String: Tensor]) throws -> [String: Tensor] {
        try values.mapValues { try tensor($0.shape, $0.data.map { $0 }) }
    }

    /// Bit patterns, so that a changed NaN or signed zero shows too.
    static func bits(_ values: [String: Tensor]) -> [String: [UInt64]] {
        values.mapValues { $0.data.map(\.bitPattern) }
    }

    @Test("inputs read in place are never written, and a second call with them gives the same values")
    func inputsUnchanged() throws {
        let spec = GraphSpec(
            inputs: ["x", "w", "b", "v"],
            nodes: [
                node("h", .matmul, "x", "w"), node("a", .add, "h", "b"), node("t", .tanh, "a"),
                node("wt", .transpose, "w"), node("back", .matmul, "t", "wt"), node("r", .reshape, "x",
                    attrs: ["shape": .ints([-1])]),
                node("c", .concat, "v", "r"), node("s1", .sum, "c"), node("s2", .sum, "back"),
                node("loss", .add, "s1", "s2"),
            ])
        let graph = try Graph(spec)
        var random = SplitMix64(label: "inputs in place")
        let values = [
            "x": try random.tensor([6, 5]), "w": try random.tensor([5, 7]), "b": try random.tensor([7]),
            "v": try random.tensor([3]),
        ]
        let before = try Self.deepCopy(values)
        let plain = try Self.plainEvaluation(spec, values)
        for cache in [nil, PlanCache()] {
            var results: [[String: [UInt64]]] = []
            for _ in 0..<2 {
                let forward = try graph.forward(values: values, outputs: ["loss", "x", "r", "t"], cache: cache)
                for name in ["loss", "x", "r", "t"] { #expect(forward[name] == plain[name], "\(name)") }
                let backward = try graph.backward(values: values, outputs: ["loss"], seeds: [:], cache: cache)
                results.append(Self.bits(forward).merging(Self.bits(backward.gradients)) { $1 })
                #expect(Self.bits(values) == Self.bits(before), "the inputs were written")
            }
            #expect(results[0] == results[1])
        }
        try Self.expectPlainValues(spec, values, outputs: ["loss"])
        try Self.expectPlainValues(spec, values, outputs: ["loss", "t", "back"])
    }

    @Test("more inputs than are read in place: the rest are copied, and every value is the same")
    func manyInputs() throws {
        let count = CompiledEvaluation.maxInputsInPlace + 6
        let names = (0..<count).map { "x\($0)" }
        var nodes = [node("p0", .mul, names[0], names[1])]
        for i in 2..<count { nodes.append(node("p\(i - 1)", i % 2 == 0 ? .add : .mul, "p\(i - 2)", names[i])) }
        nodes.append(node("loss", .sum, "p\(count - 2)"))
        let spec = GraphSpec(inputs: names, nodes: nodes)
        var random = SplitMix64(label: "many inputs")
        var values: [String: Tensor] = [:]
        for (i, name) in names.enumerated() { values[name] = try random.tensor([i % 5 == 0 ? 4 : 1, 4]) }
        let before = try Self.deepCopy(values)
        try Self.expectPlainValues(spec, values, outputs: ["loss"])
        try Self.expectPlainValues(spec, values, outputs: ["loss", "p3", names[7]])
        #expect(Self.bits(values) == Self.bits(before))
    }

    @Test("targets that are the same value, or read by later nodes, are each returned whole")
    func sharedTargets() throws {
        // Both gradients are one value (the seeds' sum times `e`), and `e`, an output, is read by the
        // backward pass.
        let spec = GraphSpec(
            inputs: ["x", "y"],
            nodes: [node("s", .add, "x", "y"), node("e", .exp, "s"), node("loss", .sum, "e")])
        let graph = try Graph(spec)
        var random = SplitMix64(label: "shared targets")
        let values = ["x": try random.tensor([2, 3]), "y": try random.tensor([2, 3])]
        let plain = try Self.plainEvaluation(spec, values)
        let doubled = try #require(plain["e"]).data.map { 2 * $0 }
        for cache in [nil, PlanCache()] {
            let result = try graph.backward(values: values, outputs: ["loss", "e"], seeds: ["e": .ones], cache: cache)
            for name in ["loss", "e"] { #expect(result.outputs[name] == plain[name], "\(name)") }
            #expect(result.gradients["x"]?.data == doubled)
            #expect(result.gradients["y"]?.data == doubled)
        }
        try Self.expectPlainValues(spec, values, outputs: ["loss", "e"])
    }

    // MARK: sin and cos computed together

    @Test("sin and cos of one value computed together keep every value, wherever they are read")
    func sinAndCosTogether() throws {
        // sin(x) and cos(x) in the forward pass (one of them also an output), chains whose backward
        // rules read cos and sin of the forward values, and a cos of a per-row value (the
        // second-order rules of a returned backward graph).
        var nodes = [
            node("s", .sin, "x"), node("c", .cos, "x"), node("p", .mul, "s", "c"), node("q", .cos, "p"),
            node("r", .sin, "q"), node("t", .tanh, "r"), node("u", .sin, "t"), node("v", .cos, "u"),
        ]
        var previous = "v"
        for i in 0..<8 {
            nodes.append(node("k\(i)", [Op.sin, .tanh, .cos, .sigmoid][i % 4], previous))
            previous = "k\(i)"
        }
        nodes.append(node("loss", .sum, previous))
        let spec = GraphSpec(inputs: ["x"], nodes: nodes)
        var random = SplitMix64(label: "sin and cos")
        let values = ["x": try random.tensor([3, 5], -4, 4)]
        try Self.expectPlainValues(spec, values, outputs: ["loss"])
        try Self.expectPlainValues(spec, values, outputs: ["loss", "c"])
        try Self.expectPlainValues(spec, values, outputs: ["loss", "s", "u"])

        // The forward pass computes s and c together (once, and only when c is not a target).
        let graph = try Graph(spec)
        let program = try graph.program(for: [[3, 5]], limits: Limits(), deadline: nil)
        func together(_ outputs: [String]) throws -> Int {
            let plan = try program.evaluationPlan(fixed: try graph.outputSlots(outputs, limits: Limits()))
            return plan.compiled.once.filter { if case .sinCos = $0.kernel { true } else { false } }.count
        }
        #expect(try together(["loss"]) == 1)
        #expect(try together(["loss", "c"]) == 0)

        // The returned backward graph run again: its sin and cos nodes are fused too.
        let first = try graph.backward(
            values: values, outputs: ["loss"], seeds: [:], options: BackwardOptions(returnGraph: true))
        let returned = try #require(first.backwardGraph)
        let gradientNode = try #require(returned.outputs["x"])
        var feed = values
        feed["seed:loss"] = scalar(1)
        let plain = try Self.plainEvaluation(returned.graph, feed)
        let again = try Graph(returned.graph).forward(values: feed, outputs: [gradientNode])
        #expect(again[gradientNode] == plain[gradientNode])
        #expect(again[gradientNode] == first.gradients["x"])
        try Self.expectPlainValues(returned.graph, feed, outputs: [gradientNode])
    }
}
