/// Jacobians, forward mode and Hessian-vector products, all built from the reverse-mode graph
/// transformation: no rule is written twice.
extension Graph {
    /// `∂output/∂input` for every output and `wrt` input, with shape `output.shape + input.shape`
    /// (the layout of `torch.autograd.functional.jacobian`). Each output's rows are one batched
    /// backward pass whose seeds are the rows of the identity.
    public func jacobian(
        values: [String: Tensor], outputs: [String], wrt: [String]? = nil, limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> JacobianResult {
        let (program, table) = try bind(values, limits: limits, deadline: deadline)
        let outputSlots = try outputSlots(outputs, limits: limits)
        let wrt = try inputSlots(wrt, limits: limits)
        var resultShapes = outputSlots.map { program.shapes[$0] }
        for output in outputSlots {
            for input in wrt {
                let shape = program.shapes[output] + program.shapes[input.slot]
                guard let size = Shape.iterations(shape), size <= limits.maxElements, shape.count <= Shape.maxRank
                else {
                    throw .limitExceeded(
                        "the Jacobian of \"\(name(of: output))\" (shape \(program.shapes[output])) with respect to "
                            + "\"\(input.name)\" (shape \(program.shapes[input.slot])) would have "
                            + "shape \(shape); the limit is \(limits.maxElements) elements "
                            + "and \(Shape.maxRank) dimensions",
                        node: name(of: output))
                }
                resultShapes.append(shape)
            }
        }
        // Every output's rows are evaluated separately, so all Jacobians are costed together here.
        let resultBytes = limits.resultBytes(resultShapes)
        try program.checkCost(work: 0, bytes: resultBytes)

        var values: [String: Tensor] = [:]
        var jacobian: [String: [String: Tensor]] = [:]
        var work = 0
        for output in outputSlots {
            let outShape = program.shapes[output]
            var builder = GraphBuilder(program)
            let seedSlot = builder.addInput(preferredName: "seed:\(name(of: output))", shape: outShape)
            let gradients = try builder.gradients(of: [(output, .slot(seedSlot))], wrt: wrt.map(\.slot))
            let connected = gradients.compactMap { gradient -> Int? in
                if case .slot(let s) = gradient { return s }
                return nil
            }
            let rows = Shape.count(outShape)
            let full = builder.program
            let result = try full.evaluate(
                values: table,
                fixed: [output], perRow: connected, seedSlots: [seedSlot], rows: rows, resultBytes: resultBytes,
                priorWork: work,
                seeds: { row in [.basis(row)] })
            work = result.work
            values[name(of: output)] = result.fixed[0]
            var position = 0
            var perInput: [String: Tensor] = [:]
            for (input, gradient) in zip(wrt, gradients) {
                let inShape = program.shapes[input.slot]
                if case .slot = gradient {
                    perInput[input.name] = stack(result.rows.map { $0[position] }, leading: outShape, each: inShape)
                    position += 1
                } else {
                    perInput[input.name] = .filled(0, shape: outShape + inShape)
                }
            }
            jacobian[name(of: output)] = perInput
        }
        return JacobianResult(outputs: values, jacobian: jacobian)
    }

    /// Forward mode, `J · t` for every output, where inputs without a tangent have a zero one.
    ///
    /// Computed as the derivative of `⟨Jᵀu, t⟩` with respect to the seed `u` (reverse over reverse,
    /// which is linear in `u`), so every op's forward-mode rule is its backward rule's backward.
    public func jvp(
        values: [String: Tensor], outputs: [String], tangents: [String: Tensor], limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> JVPResult {
        let (program, table) = try bind(values, limits: limits, deadline: deadline)
        let outputSlots = try outputSlots(outputs, limits: limits)
        let tangentInputs = try directionInputs(tangents, kind: "tangent", program: program)

        var builder = GraphBuilder(program)
        let seedSlots = outputSlots.map {
            builder.addInput(preferredName: "seed:\(name(of: $0))", shape: program.shapes[$0])
        }
        let gradients = try builder.gradients(
            of: zip(outputSlots, seedSlots).map { ($0, .slot($1)) }, wrt: tangentInputs.map(\.slot))
        var feed = table
        let inner = try innerProduct(
            &builder, feed: &feed, gradients: gradients, inputs: tangentInputs, directions: tangents, kind: "tangent")
        let directional =
            try inner.map { (inner) throws(AutodiffError) in
                try builder.gradients(of: [(nodeSlot(inner), .literal(1))], wrt: seedSlots)
            } ?? seedSlots.map { _ in nil }

        let full = builder.program
        let connected = directional.compactMap { derivative -> Int? in
            if case .slot(let s) = derivative { return s }
            return nil
        }
        // The result is linear in the seeds, so any value does; ones keep every intermediate finite.
        for slot in seedSlots {
            try limits.checkStorage(full.shapes[slot], what: "the seed of ones", node: full.graph.name(of: slot))
            Self.put(.filled(1, shape: full.shapes[slot]), at: slot, in: &feed)
        }
        let outputShapes = outputSlots.map { program.shapes[$0] }
        let result = try full.evaluate(
            values: feed, fixed: outputSlots + connected, resultBytes: limits.resultBytes(outputShapes, rows: 2))
        var outputValues: [String: Tensor] = [:]
        var tangentValues: [String: Tensor] = [:]
        var position = outputSlots.count
        for (index, slot) in outputSlots.enumerated() {
            outputValues[name(of: slot)] = result.fixed[index]
            if case .slot = directional[index] {
                tangentValues[name(of: slot)] = result.fixed[position]
                position += 1
            } else {
                tangentValues[name(of: slot)] = .filled(0, shape: program.shapes[slot])
            }
        }
        return JVPResult(outputs: outputValues, tangents: tangentValues)
    }

    /// For a one-element `output`: its gradient and `Σⱼ ∂²output/∂i∂j · vⱼ` for every `wrt` input i
    /// (reverse over reverse). Inputs without a vector have a zero one.
    public func hvp(
        values: [String: Tensor], output: String, vectors: [String: Tensor], wrt: [String]? = nil,
        limits: Limits = Limits(), deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> HVPResult {
        let (program, table) = try bind(values, limits: limits, deadline: deadline)
        let outputSlot = try outputSlots([output], limits: limits)[0]
        let outShape = program.shapes[outputSlot]
        guard Shape.count(outShape) == 1 else {
            throw .scalarRequired(output: output, shape: outShape)
        }
        let wrt = try inputSlots(wrt, limits: limits)
        let vectorInputs = try directionInputs(vectors, kind: "vector", program: program)

        var builder = GraphBuilder(program)
        let wrtSlots = Set(wrt.map(\.slot))
        let firstWrt = wrt.map(\.slot) + vectorInputs.map(\.slot).filter { !wrtSlots.contains($0) }
        let seed = try builder.fit(.literal(1), to: outShape)
        let gradients = try builder.gradients(of: [(outputSlot, seed)], wrt: firstWrt)
        var feed = table
        var position: [Int: Int] = [:]
        for (index, slot) in firstWrt.enumerated() { position[slot] = index }
        let vectorGradients = vectorInputs.map { input in position[input.slot].flatMap { gradients[$0] } }
        let inner = try innerProduct(
            &builder, feed: &feed, gradients: vectorGradients, inputs: vectorInputs, directions: vectors, kind: "vector"
        )
        let second =
            try inner.map { (inner) throws(AutodiffError) in
                try builder.gradients(of: [(nodeSlot(inner), .literal(1))], wrt: wrt.map(\.slot))
            } ?? wrt.map { _ in nil }

        // Every wrt input gets a gradient and an hvp node (zeros where nothing connects).
        var targets: [Int] = [outputSlot]
        for index in wrt.indices {
            for value in [gradients[index], second[index]] {
                if let value {
                    targets.append(try nodeSlot(value))
                } else {
                    targets.append(try nodeSlot(try builder.zeros(program.shapes[wrt[index].slot])))
                }
            }
        }
        let full = builder.program
        let resultBytes = limits.resultBytes([outShape]).addingClamped(
            limits.resultBytes(wrt.map { program.shapes[$0.slot] }, rows: 2))
        let result = try full.evaluate(values: feed, fixed: targets, resultBytes: resultBytes)
        var gradientValues: [String: Tensor] = [:]
        var hvpValues: [String: Tensor] = [:]
        for (index, input) in wrt.enumerated() {
            gradientValues[input.name] = result.fixed[1 + 2 * index]
            hvpValues[input.name] = result.fixed[2 + 2 * index]
        }
        return HVPResult(output: result.fixed[0], gradients: gradientValues, hvp: hvpValues)
    }

    /// The inputs that `directions` (JVP tangents or HVP vectors) name, each checked to have its
    /// input's shape.
    private func directionInputs(
        _ directions: [String: Tensor], kind: String, program: Program
    ) throws(AutodiffError) -> [(name: String, slot: Int)] {
        let inputs = try inputSlots(directions.keys.sorted(), field: kind + "s", limits: program.limits)
        for input in inputs where directions[input.name]?.shape != program.shapes[input.slot] {
            throw .directionShapeMismatch(
                input: input.name, kind: kind, expected: program.shapes[input.slot],
                got: directions[input.name]?.shape ?? [])
        }
        return inputs
    }

    /// Adds `Σᵢ sum(gradientᵢ · directionᵢ)`, each direction a new input `<kind>:<input>` whose value
    /// goes into `feed`. `nil` when no gradient is connected.
    private func innerProduct(
        _ builder: inout GraphBuilder, feed: inout [Tensor?], gradients: [Graph.Arg?],
        inputs: [(name: String, slot: Int)], directions: [String: Tensor], kind: String
    ) throws(AutodiffError) -> Graph.Arg? {
        var inner: Graph.Arg?
        for (input, gradient) in zip(inputs, gradients) {
            guard let gradient else { continue }
            let slot = builder.addInput(
                preferredName: "\(kind):\(input.name)", shape: builder.program.shapes[input.slot])
            Self.put(directions[input.name], at: slot, in: &feed)
            let term = try builder.apply(.sum, [try builder.mul(gradient, .slot(slot))])
            inner = if let sum = inner { try builder.add(sum, term) } else { term }
        }
        return inner
    }

    /// Sets `feed[slot]`, growing the table up to it (a value table has no value after its end).
    private static func put(_ value: Tensor?, at slot: Int, in feed: inout [Tensor?]) {
        if slot >= feed.count { feed.append(contentsOf: [Tensor?](repeating: nil, count: slot + 1 - feed.count)) }
        feed[slot] = value
    }

    private func nodeSlot(_ arg: Graph.Arg) throws(AutodiffError) -> Int {
        guard case .slot(let slot) = arg else { throw .internalError("expected a node, got a literal") }
        return slot
    }
}
