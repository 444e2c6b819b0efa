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

// MARK: - Entry points

extension Graph {
    /// Evaluates `outputs` for the given input values.
    ///
    /// With a `cache`, a call of the same graph with the same input shapes, outputs and limits as an
    /// earlier one reuses its planned program.
    public func forward(
        values: [String: Tensor], outputs: [String], limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil, cache: PlanCache? = nil
    ) throws(AutodiffError) -> [String: Tensor] {
        let shapes = try inputShapes(values, limits: limits)
        let prepared = try prepared(
            .forward(outputs: outputs), shapes: shapes, limits: limits, cache: cache,
            slots: { PlanCache.slots(of: $0.program.graph) }
        ) { () throws(AutodiffError) in
            let program = try self.program(for: shapes, limits: limits, deadline: deadline)
            let slots = try outputSlots(outputs, limits: limits)
            return PreparedForward(program: program, outputSlots: slots, plan: try program.evaluationPlan(fixed: slots))
        }
        var program = prepared.program
        program.deadline = deadline
        let slots = prepared.outputSlots
        let result = try program.evaluate(
            prepared.plan, values: table(values), rows: 0,
            resultBytes: limits.resultBytes(slots.map { program.shapes[$0] }), seeds: { _ in [] })
        return Dictionary(uniqueKeysWithValues: zip(slots.map(name(of:)), result.fixed))
    }

    /// `Σᵢ seedᵢᵀ · ∂outputᵢ/∂input` for each `wrt` input (default: every input).
    ///
    /// An output with one element may omit its seed (it is 1), unless `options.batched`. With a
    /// `cache`, a call of the same graph with the same input shapes, outputs, `wrt`, options and limits
    /// as an earlier one reuses its differentiated and planned program; seeds and values are free to differ.
    public func backward(
        values: [String: Tensor], outputs: [String], seeds: [String: Seed], wrt: [String]? = nil,
        options: BackwardOptions = BackwardOptions(), limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil, cache: PlanCache? = nil
    ) throws(AutodiffError) -> BackwardResult {
        let shapes = try inputShapes(values, limits: limits)
        let call = PlanKey.Call.backward(
            outputs: outputs, wrt: wrt, batched: options.batched, returnGraph: options.returnGraph)
        let prepared = try prepared(
            call, shapes: shapes, limits: limits, cache: cache, slots: { PlanCache.slots(of: $0.program.graph) }
        ) { () throws(AutodiffError) in
            try prepareBackward(
                shapes: shapes, outputs: outputs, wrt: wrt, returnGraph: options.returnGraph, limits: limits,
                deadline: deadline)
        }
        var program = prepared.program
        program.deadline = deadline
        let outputSlots = prepared.outputSlots
        let outputNames = Set(outputs)
        for name in seeds.keys.sorted() where !outputNames.contains(name) {
            throw .invalidRequest(
                "seeds has an entry for \"\(name)\", which is not in outputs \(outputs.quotedList)", node: name)
        }
        let resolved = try resolveSeeds(
            seeds, outputs: outputSlots, program: program, batched: options.batched, limits: limits)
        let wrt = prepared.wrt
        let rows = options.batched ? resolved.rows : 1
        let resultBytes = limits.resultBytes(outputSlots.map { program.shapes[$0] })
            .addingClamped(limits.resultBytes(wrt.map { program.shapes[$0.slot] }, rows: rows))
        let result = try program.evaluate(
            prepared.plan, values: table(values), rows: rows,
            resultBytes: resultBytes, seeds: { row in resolved.seeds.map { options.batched ? $0.row(row) : $0 } })

        var gradientValues: [String: Tensor] = [:]
        var position = 0
        for (input, gradient) in zip(wrt, prepared.gradients) {
            let shape = program.shapes[input.slot]
            let rowsOfValue: [Tensor]
            if case .slot = gradient {
                rowsOfValue = result.rows.map { $0[position] }
                position += 1
            } else {
                rowsOfValue = [Tensor](repeating: .filled(0, shape: shape), count: rows)
            }
            gradientValues[input.name] =
                options.batched ? stack(rowsOfValue, leading: [rows], each: shape) : rowsOfValue[0]
        }
        return BackwardResult(
            outputs: Dictionary(uniqueKeysWithValues: zip(outputSlots.map(name(of:)), result.fixed)),
            gradients: gradientValues, unconnected: prepared.unconnected, backwardGraph: prepared.backwardGraph)
    }

    /// The value kept in `cache` for this graph and `call`, or `prepare()`'s.
    private func prepared<T: Sendable>(
        _ call: PlanKey.Call, shapes: [[Int]], limits: Limits, cache: PlanCache?, slots: (T) -> Int,
        prepare: () throws(AutodiffError) -> T
    ) throws(AutodiffError) -> T {
        guard let cache, let fingerprint else { return try prepare() }
        let key = PlanKey(graph: fingerprint, inputShapes: shapes, call: call, limits: limits)
        return try cache.value(key, slots: slots, prepare: prepare)
    }

    /// Plans the graph for `shapes` and adds the nodes computing each `wrt` input's gradient from one
    /// seed input per output (`seed:<output>`).
    private func prepareBackward(
        shapes: [[Int]], outputs: [String], wrt: [String]?, returnGraph: Bool, limits: Limits,
        deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> PreparedBackward {
        // The builder holds the only copy of the program, so adding to it copies none of its arrays.
        var builder = GraphBuilder(try self.program(for: shapes, limits: limits, deadline: deadline))
        let outputSlots = try outputSlots(outputs, limits: limits)
        let wrt = try inputSlots(wrt, limits: limits)
        var seedSlots: [Int] = []
        for slot in outputSlots {
            let shape = builder.program.shapes[slot]
            seedSlots.append(builder.addInput(preferredName: "seed:\(name(of: slot))", shape: shape))
        }
        var gradients = try builder.gradients(
            of: zip(outputSlots, seedSlots).map { ($0, .slot($1)) }, wrt: wrt.map(\.slot))
        let unconnected = zip(wrt, gradients).filter { $1 == nil }.map(\.0.name)
        if returnGraph {
            for (index, input) in wrt.enumerated() where gradients[index] == nil {
                gradients[index] = try builder.zeros(builder.program.shapes[input.slot])
            }
        }
        var differentiated = builder.program
        // The returned graph names every node it holds; a call without it never names them.
        if returnGraph { differentiated.nameAddedNodes() }
        let connected = gradients.compactMap { gradient -> Int? in
            if case .slot(let s) = gradient { return s }
            return nil
        }
        var backwardGraph: BackwardGraph?
        if returnGraph {
            let keep = Set(differentiated.schedule(connected))
            let spec = differentiated.graph.spec { keep.contains($0) }
            var named: [String: String] = [:]
            for (input, gradient) in zip(wrt, gradients) {
                if case .slot(let s) = gradient { named[input.name] = differentiated.graph.name(of: s) }
            }
            backwardGraph = BackwardGraph(graph: spec, outputs: named)
        }
        return PreparedBackward(
            program: differentiated, outputSlots: outputSlots, wrt: wrt, gradients: gradients,
            unconnected: unconnected, backwardGraph: backwardGraph,
            plan: try differentiated.evaluationPlan(fixed: outputSlots, perRow: connected, seedSlots: seedSlots))
    }

    /// Checks each output's seed (or supplies the implicit one) and returns them in output order,
    /// with the batch size.
    private func resolveSeeds(
        _ seeds: [String: Seed], outputs: [Int], program: Program, batched: Bool, limits: Limits
    ) throws(AutodiffError) -> (seeds: [SeedValue], rows: Int) {
        var result: [SeedValue] = []
        var rows: Int?
        for slot in outputs {
            let name = name(of: slot)
            let shape = program.shapes[slot]
            switch seeds[name] {
            case nil where batched:
                throw .seedRequired(output: name, shape: shape)
            case nil, .ones?:
                if batched {
                    throw .invalidRequest(
                        "seed \"ones\" for output \"\(name)\" has no batch dimension; batched seeds must be tensors "
                            + "of shape [B] + \(shape)", node: name)
                }
                if seeds[name] == nil && Shape.count(shape) != 1 { throw .seedRequired(output: name, shape: shape) }
                try limits.checkStorage(shape, what: "the seed of ones for \"\(name)\"", node: name)
                result.append(.filled(1))
            case .tensor(let seed)?:
                try limits.checkSize(seed.shape, what: "seed for \"\(name)\"", node: name)
                if batched {
                    guard let b = seed.shape.first, Array(seed.shape.dropFirst()) == shape, rows == nil || rows == b
                    else {
                        throw .seedShapeMismatch(output: name, expected: [rows ?? -1] + shape, got: seed.shape)
                    }
                    rows = b
                } else if seed.shape != shape {
                    throw .seedShapeMismatch(output: name, expected: shape, got: seed.shape)
                }
                result.append(.tensor(seed))
            }
        }
        return (result, rows ?? 1)
    }
}

/// A forward call's program, planned for its input shapes.
struct PreparedForward: Sendable {
    let program: Program
    let outputSlots: [Int]
    let plan: EvaluationPlan
}

/// A backward call's program with the nodes computing the gradients, and where to find them.
struct PreparedBackward: Sendable {
    let program: Program
    let outputSlots: [Int]
    let wrt: [(name: String, slot: Int)]
    /// One per `wrt` input: the node computing its gradient, `nil` when no output depends on it.
    let gradients: [Graph.Arg?]
    let unconnected: [String]
    let backwardGraph: BackwardGraph?
    /// Outputs computed once; per row (one row unless batched), with one seed input per output
    /// (`seed:<output>`), the gradient nodes of the connected `wrt` inputs, in `wrt` order.
    let plan: EvaluationPlan
}

extension Tensor {
    /// Row `index` of the leading axis.
    func row(_ index: Int) -> Tensor {
        let each = Array(shape.dropFirst())
        let size = Shape.count(each)
        return Tensor(validShape: each, data: Array(data[(index * size)..<((index + 1) * size)]))
    }
}
