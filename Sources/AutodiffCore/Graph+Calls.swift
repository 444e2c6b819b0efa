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
    public func forward(
        values: [String: Tensor], outputs: [String], limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> [String: Tensor] {
        let (program, table) = try bind(values, limits: limits, deadline: deadline)
        let slots = try outputSlots(outputs, limits: limits)
        let result = try program.evaluate(
            values: table, fixed: slots, resultBytes: limits.resultBytes(slots.map { program.shapes[$0] }))
        return Dictionary(uniqueKeysWithValues: zip(slots.map(name(of:)), result.fixed))
    }

    /// `Σᵢ seedᵢᵀ · ∂outputᵢ/∂input` for each `wrt` input (default: every input).
    ///
    /// An output with one element may omit its seed (it is 1), unless `options.batched`.
    public func backward(
        values: [String: Tensor], outputs: [String], seeds: [String: Seed], wrt: [String]? = nil,
        options: BackwardOptions = BackwardOptions(), limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> BackwardResult {
        let (program, table) = try bind(values, limits: limits, deadline: deadline)
        let outputSlots = try outputSlots(outputs, limits: limits)
        let wrt = try inputSlots(wrt, limits: limits)
        let outputNames = Set(outputs)
        for name in seeds.keys.sorted() where !outputNames.contains(name) {
            throw .invalidRequest(
                "seeds has an entry for \"\(name)\", which is not in outputs \(outputs.quotedList)", node: name)
        }
        let resolved = try resolveSeeds(
            seeds, outputs: outputSlots, program: program, batched: options.batched, limits: limits)

        var builder = GraphBuilder(program)
        var seedSlots: [Int] = []
        for slot in outputSlots {
            seedSlots.append(builder.addInput(preferredName: "seed:\(name(of: slot))", shape: program.shapes[slot]))
        }
        var gradients = try builder.gradients(
            of: zip(outputSlots, seedSlots).map { ($0, .slot($1)) }, wrt: wrt.map(\.slot))
        let unconnected = zip(wrt, gradients).filter { $1 == nil }.map(\.0.name)
        if options.returnGraph {
            for (index, input) in wrt.enumerated() where gradients[index] == nil {
                gradients[index] = try builder.zeros(program.shapes[input.slot])
            }
        }
        let program2 = builder.program
        let connected = gradients.compactMap { gradient -> Int? in
            if case .slot(let s) = gradient { return s }
            return nil
        }
        let rows = options.batched ? resolved.rows : 1
        let resultBytes = limits.resultBytes(outputSlots.map { program.shapes[$0] })
            .addingClamped(limits.resultBytes(wrt.map { program.shapes[$0.slot] }, rows: rows))
        let result = try program2.evaluate(
            values: table + [Tensor?](repeating: nil, count: program2.graph.slotCount - table.count),
            fixed: outputSlots, perRow: connected, seedSlots: seedSlots, rows: rows, resultBytes: resultBytes,
            seeds: { row in resolved.seeds.map { options.batched ? $0.row(row) : $0 } })

        var gradientValues: [String: Tensor] = [:]
        var position = 0
        for (input, gradient) in zip(wrt, gradients) {
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
        var backwardGraph: BackwardGraph?
        if options.returnGraph {
            let keep = Set(program2.schedule(connected))
            let spec = program2.graph.spec { keep.contains($0) }
            var named: [String: String] = [:]
            for (input, gradient) in zip(wrt, gradients) {
                if case .slot(let s) = gradient { named[input.name] = program2.graph.name(of: s) }
            }
            backwardGraph = BackwardGraph(graph: spec, outputs: named)
        }
        return BackwardResult(
            outputs: Dictionary(uniqueKeysWithValues: zip(outputSlots.map(name(of:)), result.fixed)),
            gradients: gradientValues, unconnected: unconnected, backwardGraph: backwardGraph)
    }

    /// Checks each output's seed (or supplies the implicit one) and returns them in output order,
    /// with the batch size.
    private func resolveSeeds(
        _ seeds: [String: Seed], outputs: [Int], program: Program, batched: Bool, limits: Limits
    ) throws(AutodiffError) -> (seeds: [Tensor], rows: Int) {
        var result: [Tensor] = []
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
                result.append(.filled(1, shape: shape))
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
                result.append(seed)
            }
        }
        return (result, rows ?? 1)
    }
}

extension Tensor {
    /// Row `index` of the leading axis.
    func row(_ index: Int) -> Tensor {
        let each = Array(shape.dropFirst())
        let size = Shape.count(each)
        return Tensor(validShape: each, data: Array(data[(index * size)..<((index + 1) * size)]))
    }
}
