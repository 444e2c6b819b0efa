import Testing

@testable import AutodiffCore

/// Groups of elementwise nodes computed block by block in one instruction (`Fusion`): every value
/// is bit for bit the unfused evaluation's, groups form where they may and only there, and a long
/// group stops at a passed deadline.
@Suite("Elementwise fusion")
struct FusionTests {
    // MARK: Helpers

    /// `body`'s result with fusion turned off while it runs.
    static func unfused<T>(_ body: () throws -> T) throws -> T {
        try Fusion.$isEnabled.withValue(false) { try body() }
    }

    /// Where `a` and `b` differ (shape, or the first element whose bits differ, NaNs included), or
    /// `nil` when they are identical.
    static func difference(_ a: Tensor?, _ b: Tensor?) -> String? {
        guard let a, let b else { return a == nil && b == nil ? nil : "one of them is missing" }
        guard a.shape == b.shape else { return "shapes \(a.shape) and \(b.shape)" }
        let differing = a.data.indices.first { a.data[$0].bitPattern != b.data[$0].bitPattern }
        return differing.map { "element \($0) of \(a.count): \(a.data[$0]) and \(b.data[$0])" }
    }

    static let unary: [(Op, [String: AttributeValue])] =
        [
            Op.neg, .exp, .log, .sqrt, .sin, .cos, .tan, .tanh, .sigmoid, .reciprocal, .square, .log1p, .expm1,
            .erf, .abs, .relu, .leakyRelu, .elu, .gelu, .softplus, .sign, .floor, .ceil, .round,
        ].map { ($0, [:]) } + [
            (.clamp, ["min": .number(-0.5), "max": .number(0.75)]),
            (.gelu, ["approximate": .string("tanh")]),
            (.softplus, ["beta": .number(2), "threshold": .number(1)]),
        ]
    static let binary: [Op] = [.add, .sub, .mul, .div, .pow, .maximum, .minimum, .gt, .le, .eq]
    static let literals = ["1", "-0.5", "2.5", "0"]

    /// A random graph of elementwise nodes over `a` and `b` (shape `[n]`) and `s` (one element),
    /// mostly chained, sometimes reading an older value again, with literals; and its outputs: the
    /// last node, and sometimes an earlier one.
    static func randomGraph(_ rng: inout SplitMix64) -> (GraphSpec, [String]) {
        func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
        var names = ["a", "b", "s"]
        var nodes: [NodeSpec] = []
        let count = 4 + Int(rng.next() % 12)
        for i in 0..<count {
            let id = "n\(i)"
            let last = names[names.count - 1]
            let roll = rng.uniform(0, 1)
            if roll < 0.45 {
                let (op, attrs) = pick(unary)
                nodes.append(node(id, op, rng.uniform(0, 1) < 0.85 ? last : pick(names), attrs: attrs))
            } else if roll < 0.8 {
                let (lhs, rhs) = rng.uniform(0, 1) < 0.5 ? (last, pick(names)) : (pick(names), last)
                nodes.append(node(id, pick(binary), lhs, rhs))
            } else {
                let (lhs, rhs) = rng.uniform(0, 1) < 0.5 ? (last, pick(literals)) : (pick(literals), last)
                nodes.append(node(id, pick(binary), lhs, rhs))
            }
            names.append(id)
        }
        var outputs = [names[names.count - 1]]
        if rng.uniform(0, 1) < 0.3 { outputs.append(nodes[Int(rng.next() % UInt64(count - 1))].id) }
        return (GraphSpec(inputs: ["a", "b", "s"], nodes: nodes), outputs)
    }

    /// Forward values, gradients for random seeds and (for short vectors) Jacobians of `spec` equal
    /// those of the unfused evaluation, bit for bit.
    static func expectUnfusedValues(
        _ spec: GraphSpec, outputs: [String], values: [String: Tensor], jacobian: Bool, label: String,
        rng: inout SplitMix64, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let graph = try Graph(spec)
        let forward = try graph.forward(values: values, outputs: outputs)
        let plain = try unfused { try graph.forward(values: values, outputs: outputs) }
        for name in outputs {
            #expect(
                difference(forward[name], plain[name]) == nil, "forward \(name): \(label)",
                sourceLocation: sourceLocation)
        }
        var seeds: [String: Seed] = [:]
        for name in outputs {
            let shape = try #require(forward[name]).shape
            seeds[name] = rng.uniform(0, 1) < 0.5 ? .ones : .tensor(try rng.tensor(shape))
        }
        let backward = try graph.backward(values: values, outputs: outputs, seeds: seeds)
        let reference = try unfused { try graph.backward(values: values, outputs: outputs, seeds: seeds) }
        for name in spec.inputs {
            #expect(
                difference(backward.gradients[name], reference.gradients[name]) == nil,
                "gradient of \(name): \(label)",
                sourceLocation: sourceLocation)
        }
        guard jacobian else { return }
        let rows = try graph.jacobian(values: values, outputs: outputs)
        let expected = try unfused { try graph.jacobian(values: values, outputs: outputs) }
        for output in outputs {
            for input in spec.inputs {
                #expect(
                    difference(rows.jacobian[output]?[input], expected.jacobian[output]?[input]) == nil,
                    "∂\(output)/∂\(input): \(label)", sourceLocation: sourceLocation)
            }
        }
    }

    /// The once and per-row instructions of `spec` computing `targets` once and `rows` per row with
    /// `seeds` set per row, fused and unfused.
    static func instructions(
        _ spec: GraphSpec, shapes: [[Int]], targets: [String], rows: [String] = [], seeds: [String] = []
    ) throws -> (fused: CompiledEvaluation, unfused: CompiledEvaluation) {
        let graph = try Graph(spec)
        let program = try graph.program(for: shapes, limits: Limits(), deadline: nil)
        let slots = { (names: [String]) in try names.map { try #require(graph.slots[$0]) } }
        let (fixed, perRow, seedSlots) = (try slots(targets), try slots(rows), try slots(seeds))
        let plan = { try program.evaluationPlan(fixed: fixed, perRow: perRow, seedSlots: seedSlots).compiled }
        return (try plan(), try unfused(plan))
    }

    static func isFused(_ instruction: CompiledEvaluation.Instruction) -> Bool {
        if case .fused = instruction.kernel { true } else { false }
    }

    // MARK: Values

    /// Vectors of no element, one, a block but one, a block and one, and several blocks.
    static let lengths = [0, 1, Fusion.blockSize - 1, Fusion.blockSize + 1, 3 * Fusion.blockSize + 7]

    @Test("random elementwise graphs give the unfused values, forward, backward and Jacobian", arguments: lengths)
    func randomGraphs(length: Int) throws {
        var rng = SplitMix64(label: "fusion \(length)")
        for index in 0..<40 {
            let (spec, outputs) = Self.randomGraph(&rng)
            let values = [
                "a": try rng.tensor([length], -2, 2), "b": try rng.tensor([length], 0.1, 3),
                "s": try rng.tensor([], -1.5, 1.5),
            ]
            let label = "graph \(index): " + spec.nodes.map { "\($0.id)=\($0.op)\($0.args)" }.joined(separator: " ")
            try Self.expectUnfusedValues(
                spec, outputs: outputs, values: values,
                jacobian: length <= 1 || (length == Fusion.blockSize + 1 && index < 3), label: label, rng: &rng)
        }
    }

    @Test("random elementwise graphs over more elements than a deadline check covers give the unfused values")
    func longVectors() throws {
        var rng = SplitMix64(label: "fusion long")
        let length = Kernels.elementsPerCheck + 3
        for index in 0..<3 {
            let (spec, outputs) = Self.randomGraph(&rng)
            let values = [
                "a": try rng.tensor([length], -2, 2), "b": try rng.tensor([length], 0.1, 3),
                "s": try rng.tensor([], -1.5, 1.5),
            ]
            try Self.expectUnfusedValues(
                spec, outputs: outputs, values: values, jacobian: false, label: "long graph \(index)", rng: &rng)
        }
    }

    @Test("chains of sin, tanh, cos and sigmoid and their backward rules give the unfused values", arguments: lengths)
    func unaryChains(length: Int) throws {
        var rng = SplitMix64(label: "fusion chain \(length)")
        var nodes: [NodeSpec] = []
        var previous = "a"
        for i in 0..<24 {
            nodes.append(node("c\(i)", [Op.sin, .tanh, .cos, .sigmoid][i % 4], previous))
            previous = "c\(i)"
        }
        nodes.append(node("y", .mul, previous, "b"))
        let values = ["a": try rng.tensor([length], -3, 3), "b": try rng.tensor([length]), "s": scalar(0.5)]
        try Self.expectUnfusedValues(
            GraphSpec(inputs: ["a", "b", "s"], nodes: nodes), outputs: ["y"], values: values,
            jacobian: length <= Fusion.blockSize + 1, label: "chain", rng: &rng)
    }

    // MARK: Where groups form

    @Test("the backward of x·x is one instruction per row, computing the unfused gradient")
    func squareBackward() throws {
        // What the backward pass of y = x·x computes from its seed g, spelled as a graph.
        let spec = GraphSpec(
            inputs: ["g", "x"],
            nodes: [node("m1", .mul, "g", "x"), node("m2", .mul, "x", "g"), node("dx", .add, "m1", "m2")])
        let (fused, unfused) = try Self.instructions(
            spec, shapes: [[1000], [1000]], targets: [], rows: ["dx"], seeds: ["g"])
        #expect(unfused.repeated.count == 3)
        #expect(fused.repeated.count == 1)
        #expect(fused.repeated.allSatisfy(Self.isFused))

        let graph = try Graph(GraphSpec(inputs: ["x"], nodes: [node("y", .mul, "x", "x")]))
        var rng = SplitMix64(label: "square")
        let values = ["x": try rng.tensor([3 * Fusion.blockSize + 5])]
        let gradient = try graph.backward(values: values, outputs: ["y"], seeds: ["y": .ones]).gradients["x"]
        let reference = try Self.unfused {
            try graph.backward(values: values, outputs: ["y"], seeds: ["y": .ones]).gradients["x"]
        }
        #expect(Self.difference(gradient, reference) == nil)
        #expect(gradient?.data == values["x"]?.data.map { 1 * $0 + $0 * 1 })
    }

    @Test("the backward pass of a chain of sin, tanh, cos and sigmoid is one instruction per row")
    func chainBackward() throws {
        var nodes: [NodeSpec] = []
        var previous = "x"
        for i in 0..<40 {
            nodes.append(node("c\(i)", [Op.sin, .tanh, .cos, .sigmoid][i % 4], previous))
            previous = "c\(i)"
        }
        let graph = try Graph(GraphSpec(inputs: ["x"], nodes: nodes))
        var rng = SplitMix64(label: "chain backward")
        let first = try graph.backward(
            values: ["x": try rng.tensor([256])], outputs: [previous], seeds: [previous: .ones],
            options: BackwardOptions(returnGraph: true))
        let returned = try #require(first.backwardGraph)
        let gradient = try #require(returned.outputs["x"])
        // The returned graph computes what the backward pass does, its seed an input set per row.
        let (fused, unfused) = try Self.instructions(
            returned.graph, shapes: returned.graph.inputs.map { _ in [256] }, targets: [], rows: [gradient],
            seeds: ["seed:\(previous)"])
        #expect(unfused.repeated.count >= 40)
        #expect(fused.repeated.count == 1)
        // Each tanh's 1 − y·y is one instruction computed once, not two.
        #expect(fused.once.count < unfused.once.count)
    }

    @Test("a value read by two nodes, a target, or one computed in the other part is not fused away")
    func unfusedValues() throws {
        let shapes = [[64], [64]]
        // t is read by u and v: it is computed on its own; u is computed inside v's group.
        let shared = GraphSpec(
            inputs: ["x", "g"], nodes: [node("t", .tanh, "x"), node("u", .sin, "t"), node("v", .mul, "u", "t")])
        let (fused, unfused) = try Self.instructions(shared, shapes: shapes, targets: ["v"])
        #expect(unfused.once.count == 3)
        #expect(fused.once.count == 2)
        #expect(!Self.isFused(fused.once[0]))
        #expect(Self.isFused(fused.once[1]))

        // A chain is one instruction, unless an intermediate is a target too.
        let chain = GraphSpec(inputs: ["x", "g"], nodes: [node("t", .tanh, "x"), node("u", .sin, "t")])
        #expect(try Self.instructions(chain, shapes: shapes, targets: ["u"]).fused.once.count == 1)
        #expect(try Self.instructions(chain, shapes: shapes, targets: ["u", "t"]).fused.once.count == 2)

        // tanh(x) is computed once, its product with the seed per row: two parts, two instructions.
        let parts = GraphSpec(inputs: ["x", "g"], nodes: [node("t", .tanh, "x"), node("u", .mul, "t", "g")])
        let split = try Self.instructions(parts, shapes: shapes, targets: [], rows: ["u"], seeds: ["g"]).fused
        #expect(split.once.count == 1)
        #expect(split.repeated.count == 1)
        #expect(!split.repeated.contains(where: Self.isFused))
        // Both per row: one instruction.
        let rowOnly = GraphSpec(inputs: ["x", "g"], nodes: [node("t", .mul, "x", "g"), node("u", .tanh, "t")])
        let joined = try Self.instructions(rowOnly, shapes: shapes, targets: [], rows: ["u"], seeds: ["g"]).fused
        #expect(joined.repeated.count == 1)
        #expect(joined.repeated.allSatisfy(Self.isFused))

        // A value of one element broadcast over the result is read, never fused into it.
        let broadcast = GraphSpec(inputs: ["x", "s"], nodes: [node("t", .exp, "s"), node("u", .mul, "x", "t")])
        #expect(try Self.instructions(broadcast, shapes: [[64], []], targets: ["u"]).fused.once.count == 2)
    }

    // MARK: Deadline

    @Test("a fused chain longer than a deadline check's elements stops at a passed deadline, within one block")
    func deadline() throws {
        // One block of elements through more steps than one check covers: checks between blocks
        // alone would never look at the deadline.
        let steps = Kernels.elementsPerCheck / Fusion.blockSize + 2
        var nodes: [NodeSpec] = []
        var previous = "x"
        for i in 0..<steps {
            nodes.append(node("c\(i)", [Op.sin, .tanh, .cos, .sigmoid][i % 4], previous))
            previous = "c\(i)"
        }
        let spec = GraphSpec(inputs: ["x"], nodes: nodes)
        let graph = try Graph(spec)
        var rng = SplitMix64(label: "fusion deadline")
        let x = try rng.tensor([Fusion.blockSize])
        let program = try graph.program(for: [x.shape], limits: Limits(), deadline: nil)
        let compiled = try program.evaluationPlan(fixed: [try #require(graph.slots[previous])]).compiled
        try #require(compiled.once.count == 1)
        let instruction = compiled.once[0]
        #expect(Self.isFused(instruction))
        #expect(compiled.inputsInPlace == [try #require(graph.slots["x"])])
        let arena = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, compiled.size))
        defer { arena.deallocate() }
        let (stopped, finished) = x.data.withUnsafeBufferPointer { data in
            [UnsafePointer(data.baseAddress!)].withUnsafeBufferPointer { inputs in
                compiled.operands.withUnsafeBufferPointer { operands in
                    let memory = Memory(arena: arena, inputs: inputs)
                    let stopped = instruction.result(memory, operands: operands, deadline: .now - .seconds(1))
                    let finished = instruction.result(memory, operands: operands, deadline: .now + .seconds(3600))
                    return (stopped, finished)
                }
            }
        }
        #expect(stopped == nil, "the chain ran to its end")
        let expected = try Self.unfused { try graph.forward(values: ["x": x], outputs: [previous]) }[previous]
        #expect(Self.difference(finished.map { Tensor(validShape: x.shape, data: $0) }, expected) == nil)
    }
}
