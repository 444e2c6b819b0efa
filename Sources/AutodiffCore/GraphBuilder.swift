/// Adds nodes to a `Program` for differentiation, and runs reverse mode over it.
///
/// Reverse mode is a graph transformation: it appends nodes that compute the gradients, so the
/// result can be evaluated, differentiated again, or returned to the client as a graph.
struct GraphBuilder {
    private(set) var program: Program
    private let prefix: String
    private var counter = 0

    /// `prefix` names the nodes this builder adds (`prefix1`, `prefix2`, …, made unique if taken).
    init(_ program: Program, prefix: String = "grad") {
        self.program = program
        self.prefix = prefix
    }

    func shape(_ arg: Graph.Arg) -> [Int] { program.shape(arg) }

    /// Adds `op(args)` with `attrs` (`nil`, not an empty table, for none: building an empty
    /// dictionary literal for every node added was measurable).
    mutating func apply(
        _ op: Op, _ args: [Graph.Arg], _ attrs: [String: AttributeValue]? = nil
    ) throws(AutodiffError) -> Graph.Arg {
        counter += 1
        return try program.add(op, args, attrs, id: Graph.GeneratedName(prefix: prefix, number: counter))
    }

    mutating func addInput(preferredName: String, shape: [Int]) -> Int {
        program.addInput(preferredName: preferredName, shape: shape)
    }

    // MARK: Arithmetic shorthands for backward rules

    mutating func add(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.add, [a, b]) }
    mutating func sub(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.sub, [a, b]) }
    mutating func mul(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.mul, [a, b]) }
    mutating func div(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.div, [a, b]) }
    mutating func pow(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.pow, [a, b]) }
    mutating func eq(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.eq, [a, b]) }
    mutating func gt(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.gt, [a, b]) }
    mutating func ge(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.ge, [a, b]) }
    mutating func lt(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.lt, [a, b]) }
    mutating func le(_ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.le, [a, b]) }
    mutating func neg(_ a: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.neg, [a]) }
    mutating func log(_ a: Graph.Arg) throws(AutodiffError) -> Graph.Arg { try apply(.log, [a]) }

    mutating func `where`(_ c: Graph.Arg, _ a: Graph.Arg, _ b: Graph.Arg) throws(AutodiffError) -> Graph.Arg {
        try apply(.where, [c, a, b])
    }

    // MARK: Layout helpers

    /// `x` reshaped to `shape` (no node when it already has it).
    mutating func reshape(_ x: Graph.Arg, _ shape: [Int]) throws(AutodiffError) -> Graph.Arg {
        self.shape(x) == shape ? x : try apply(.reshape, [x], Attributes.ints("shape", shape))
    }

    /// Sums the dimensions along which `shape` was broadcast to `x`'s shape.
    mutating func sumTo(_ x: Graph.Arg, _ shape: [Int]) throws(AutodiffError) -> Graph.Arg {
        let from = self.shape(x)
        guard from != shape else { return x }
        let leading = from.count - shape.count
        let axes = (0..<from.count).filter { axis in
            axis < leading || (shape[axis - leading] == 1 && from[axis] != 1)
        }
        guard !axes.isEmpty else { return try reshape(x, shape) }
        let summed = try apply(.sum, [x], Attributes.ints("axes", axes).merging(["keepdims": .bool(true)]) { $1 })
        return try reshape(summed, shape)
    }

    /// A contribution brought to an argument's exact shape: broadcast up when it is smaller (or a
    /// literal), summed down when it was broadcast.
    mutating func fit(_ x: Graph.Arg, to shape: [Int]) throws(AutodiffError) -> Graph.Arg {
        let from = self.shape(x)
        if from == shape, case .slot = x { return x }
        if Shape.broadcast(from, shape) == shape {
            return try apply(.broadcastTo, [x], Attributes.ints("shape", shape))
        }
        let summed = try sumTo(x, shape)
        guard self.shape(summed) == shape else {
            throw .internalError("a gradient of shape \(from) cannot be brought to shape \(shape)")
        }
        return summed
    }

    /// Swaps the last two axes.
    mutating func swapLastAxes(_ x: Graph.Arg) throws(AutodiffError) -> Graph.Arg {
        let rank = shape(x).count
        var perm = Array(0..<rank)
        perm.swapAt(rank - 1, rank - 2)
        return try apply(.transpose, [x], Attributes.ints("perm", perm))
    }

    func brokenPlan(_ op: Op) -> AutodiffError {
        .internalError("\(op.rawValue) was planned with the wrong layout")
    }

    // MARK: Reverse mode

    /// Adds nodes computing `Σ seedᵀ · ∂output/∂input` for each slot of `wrt`.
    ///
    /// Returns one gradient per `wrt` slot, `nil` where no output depends on it. Only nodes on a
    /// path from a `wrt` slot to an output are differentiated; comparisons and `where`'s condition
    /// carry no gradient (as in PyTorch, where they are not differentiable at all).
    mutating func gradients(
        of outputs: [(slot: Int, seed: Graph.Arg)], wrt: [Int]
    ) throws(AutodiffError) -> [Graph.Arg?] {
        // Read through `program` (no copy of its graph: the first node added would copy every
        // definition for the copy's sake, retaining and later releasing what each one holds).
        let count = program.graph.slotCount
        var dependsOnWrt = [Bool](repeating: false, count: count)
        for slot in wrt { dependsOnWrt[slot] = true }
        for slot in 0..<count {
            guard let op = program.graph.op(of: slot) else { continue }
            let args = program.graph.argumentRange(of: slot)
            let carrying: Range<Int> =
                switch op {
                case .gt, .ge, .lt, .le, .eq, .ne: args.lowerBound..<args.lowerBound
                case .where: (args.lowerBound + 1)..<args.upperBound
                default: args
                }
            for k in carrying {
                if case .slot(let s) = program.graph.arguments[k], dependsOnWrt[s] {
                    dependsOnWrt[slot] = true
                    break
                }
            }
        }
        var relevant = [Bool](repeating: false, count: count)
        var relevantCount = 0
        var stack = outputs.map(\.slot)
        while let slot = stack.popLast() {
            guard dependsOnWrt[slot], !relevant[slot] else { continue }
            relevant[slot] = true
            relevantCount += 1
            for k in program.graph.argumentRange(of: slot) {
                if case .slot(let arg) = program.graph.arguments[k] { stack.append(arg) }
            }
        }

        // Most backward rules add two or three nodes (an elementwise chain adds 2.75 per node).
        program.reserveCapacity(adding: 3 * relevantCount)
        // Only relevant slots, all below `count`, receive gradients.
        var grads = [Graph.Arg?](repeating: nil, count: count)
        func accumulate(_ slot: Int, _ contribution: Graph.Arg, _ b: inout GraphBuilder) throws(AutodiffError) {
            let fitted = try b.fit(contribution, to: b.program.shapes[slot])
            grads[slot] = if let existing = grads[slot] { try b.add(existing, fitted) } else { fitted }
        }
        for output in outputs where relevant[output.slot] {
            try accumulate(output.slot, output.seed, &self)
        }
        // Each node's arguments in a list of their own (the rule adds nodes, growing the graph's
        // argument array), one list reused for every node.
        var args: [Graph.Arg] = []
        for slot in stride(from: count - 1, through: 0, by: -1) {
            guard relevant[slot], let g = grads[slot], let op = program.graph.op(of: slot),
                let plan = program.plans[slot]
            else { continue }
            args.removeAll(keepingCapacity: true)
            for k in program.graph.argumentRange(of: slot) { args.append(program.graph.arguments[k]) }
            let contributions = try op.backward(
                &self, args: args, result: .slot(slot), attrs: program.graph.attributes(of: slot), plan: plan,
                gradient: g)
            guard contributions.count == args.count else {
                throw .internalError(
                    "\(op.rawValue) returned \(contributions.count) gradients for \(args.count) arguments")
            }
            for (arg, contribution) in zip(args, contributions) {
                guard case .slot(let s) = arg, relevant[s], let contribution else { continue }
                try accumulate(s, contribution, &self)
            }
        }
        var result: [Graph.Arg?] = []
        for slot in wrt {
            if !relevant[slot] {
                result.append(nil)
            } else if let g = grads[slot] {
                result.append(g)
            } else {
                result.append(try zeros(program.shapes[slot]))
            }
        }
        return result
    }

    /// A node of zeros of `shape`.
    mutating func zeros(_ shape: [Int]) throws(AutodiffError) -> Graph.Arg {
        try apply(.broadcastTo, [.literal(0)], Attributes.ints("shape", shape))
    }
}
