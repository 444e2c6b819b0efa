/// What shape checking learns about a node, kept for its kernel so no rule is worked out twice.
///
/// An immutable object rather than a struct: each pass over a program (differentiation, costing,
/// compiling) reads every node's plan, and copying a struct plan out of the program's array retained
/// and released its shape and every array of its layout; an object is one reference. Elementwise
/// nodes of the same argument shapes share one (`ElementwisePlans`).
final class Plan: Sendable {
    let shape: [Int]
    let layout: Layout
    /// Estimated floating-point operations.
    let work: Int

    init(shape: [Int], layout: Layout, work: Int) {
        self.shape = shape
        self.layout = layout
        self.work = work
    }

    enum Layout: Sendable {
        /// Unary elementwise.
        case map
        /// Elementwise over broadcast arguments: each argument's strides into the output.
        case broadcast(strides: [[Int]])
        case reduce(Reduction)
        case matmul(MatmulPlan)
        case transpose(perm: [Int])
        /// Same data, another shape (reshape, squeeze, unsqueeze).
        case copy
        case concat(axis: Int)
        case slice(SlicePlan)
        /// Softmax-like op along one axis: `outer × length × inner`.
        case axis(outer: Int, length: Int, inner: Int)
    }
}

struct Reduction: Sendable {
    let inputShape: [Int]
    /// Normalized reduced axes, ascending.
    let axes: [Int]
    /// The result's shape with reduced axes kept as 1 (the `keepdims` form).
    let keptShape: [Int]
    /// For each input position, the stride into the result (0 along reduced axes).
    let resultStrides: [Int]
    /// Elements reduced into each result element.
    let count: Int
}

struct MatmulPlan: Sendable {
    let batchShape: [Int]
    let m: Int, k: Int, n: Int
    /// Strides, in matrices, of each argument's batch index into the broadcast batch.
    let lhsBatchStrides: [Int], rhsBatchStrides: [Int]
}

/// One step of a slice: for each axis of the full tensor, where it starts and its step.
struct SlicePlan: Sendable {
    let full: [Int]
    let starts: [Int]
    let steps: [Int]
    let sliced: [Int]
    /// The offset of the slice's first element in the full tensor (0 for an empty slice).
    let offset: Int
    /// For each axis, the distance in the full tensor between neighbouring slice elements.
    let strides: [Int]
}

extension Op {
    // MARK: Shape checking

    /// Whether the op's plan depends only on its arguments' shapes (not on attributes, nor on its
    /// node's name unless planning fails): the elementwise ops without attributes.
    var isPlannedByShapesAlone: Bool {
        switch self {
        case .add, .sub, .mul, .div, .pow, .maximum, .minimum, .gt, .ge, .lt, .le, .eq, .ne, .where,
            .neg, .exp, .log, .sqrt, .sin, .cos, .tan, .tanh, .sigmoid, .reciprocal, .square, .log1p, .expm1, .erf,
            .abs, .relu, .sign, .floor, .ceil, .round:
            true
        case .leakyRelu, .elu, .gelu, .softplus, .clamp, .sum, .mean, .prod, .max, .min, .logsumexp, .matmul,
            .transpose, .reshape, .broadcastTo, .squeeze, .unsqueeze, .concat, .slice, .sliceBackward, .softmax,
            .logSoftmax:
            false
        }
    }

    /// Checks `args` shapes and attributes for this op and plans its kernel. Every failure names
    /// `node` and says what was expected and what came; the result's size is checked against
    /// `limits` before anything is allocated.
    func plan(node: String, attrs: Attributes, args: [[Int]], limits: Limits) throws(AutodiffError) -> Plan {
        let plan = try unlimitedPlan(node: node, attrs: attrs, args: args)
        guard plan.shape.count <= Shape.maxRank else {
            throw .limitExceeded(
                "node \"\(node)\": \(rawValue) would produce a tensor of \(plan.shape.count) dimensions; "
                    + "the limit is \(Shape.maxRank)",
                node: node)
        }
        guard let iterations = Shape.iterations(plan.shape), iterations <= limits.maxElements else {
            throw .limitExceeded(
                "node \"\(node)\": \(rawValue) would produce shape \(plan.shape); the limit is "
                    + "\(limits.maxElements) elements per tensor (empty dimensions count as 1 for the loops over them)",
                node: node)
        }
        return plan
    }

    private func unlimitedPlan(node: String, attrs: Attributes, args: [[Int]]) throws(AutodiffError) -> Plan {
        func attributeError(_ name: String, _ reason: String) -> AutodiffError {
            .invalidAttribute(node: node, op: rawValue, attribute: name, reason: reason)
        }
        func shapeError(_ detail: String) -> AutodiffError {
            .shapeMismatch(node: node, op: rawValue, detail: detail)
        }
        func tooLarge(_ what: String) -> AutodiffError {
            .limitExceeded("node \"\(node)\": \(rawValue) of \(what) is too large to address", node: node)
        }
        /// Every axis in `axes`, normalized for `rank`, once each. Scalars accept 0 and -1 as PyTorch does.
        func normalizedAxes(_ name: String, _ axes: [Int], rank: Int) throws(AutodiffError) -> [Int] {
            var seen = Set<Int>()
            for axis in axes {
                let normalized: Int
                if rank == 0, axis == 0 || axis == -1 {
                    continue
                } else if let n = Shape.normalize(axis: axis, rank: rank) {
                    normalized = n
                } else {
                    throw attributeError(name, "has axis \(axis), out of range for rank \(rank) (shape \(args[0]))")
                }
                guard seen.insert(normalized).inserted else {
                    throw attributeError(name, "names axis \(axis) twice")
                }
            }
            return seen.sorted()
        }
        let input = args[0]
        // Arguments are inputs, constants or planned results, whose iteration spaces are bounded.
        guard let inputIterations = Shape.iterations(input) else { throw tooLarge("shape \(input)") }

        switch self {
        case .neg, .exp, .log, .sqrt, .sin, .cos, .tan, .tanh, .sigmoid, .reciprocal, .square, .log1p, .expm1, .erf,
            .abs, .relu, .leakyRelu, .elu, .gelu, .softplus, .clamp, .sign, .floor, .ceil, .round:
            if self == .clamp, attrs.number("min") == nil, attrs.number("max") == nil {
                throw attributeError("min", "or \"max\" must be given (as torch.clamp requires)")
            }
            return Plan(shape: input, layout: .map, work: inputIterations)

        case .add, .sub, .mul, .div, .pow, .maximum, .minimum, .gt, .ge, .lt, .le, .eq, .ne, .where:
            // Arguments of one shape (the usual case) need no broadcasting.
            if args.allSatisfy({ $0 == input }) { return try broadcastPlan(args, to: input) }
            var shape: [Int] = []
            for arg in args {
                guard let joined = Shape.broadcast(shape, arg) else {
                    let shapes = args.map { "\($0)" }.joined(separator: " and ")
                    throw shapeError("cannot broadcast shapes \(shapes) together")
                }
                shape = joined
            }
            return try broadcastPlan(args, to: shape)

        case .broadcastTo:
            let target = attrs.ints("shape") ?? []
            guard Shape.elementCount(target) != nil else {
                throw attributeError("shape", "must be non-negative sizes whose product fits, got \(target)")
            }
            guard target.count >= input.count, Shape.broadcast(input, target) == target else {
                throw shapeError("cannot broadcast shape \(input) to \(target)")
            }
            return try broadcastPlan(args, to: target)

        case .sum, .mean, .prod, .max, .min, .logsumexp:
            let axes = try attrs.ints("axes").map { (axes) throws(AutodiffError) in
                try normalizedAxes("axes", axes, rank: input.count)
            }
            let reduced = if let axes, !axes.isEmpty { axes } else { Array(0..<input.count) }
            var kept = input
            for axis in reduced { kept[axis] = 1 }
            guard let count = Shape.elementCount(reduced.map { input[$0] }) else { throw tooLarge("shape \(input)") }
            if count == 0, self == .max || self == .min {
                throw shapeError("cannot reduce an empty axis (shape \(input)): \(rawValue) has no identity")
            }
            let keepdims = attrs.bool("keepdims")
            let isReduced = Set(reduced)
            let shape = keepdims ? kept : input.enumerated().filter { !isReduced.contains($0.offset) }.map(\.element)
            let reduction = Reduction(
                inputShape: input, axes: reduced, keptShape: kept,
                resultStrides: Shape.broadcastStrides(kept, to: input), count: count)
            let passes = self == .logsumexp ? 3 : 1
            return Plan(shape: shape, layout: .reduce(reduction), work: inputIterations.multipliedClamped(by: passes))

        case .matmul:
            let (lhs, rhs) = (args[0], args[1])
            guard !lhs.isEmpty, !rhs.isEmpty else {
                throw shapeError("needs arguments of rank ≥ 1, got shapes \(lhs) and \(rhs)")
            }
            let a = lhs.count == 1 ? [1] + lhs : lhs
            let b = rhs.count == 1 ? rhs + [1] : rhs
            let (m, k, n) = (a[a.count - 2], a[a.count - 1], b[b.count - 1])
            guard b[b.count - 2] == k else {
                throw shapeError("needs lhs columns == rhs rows, got \(lhs) and \(rhs)")
            }
            let (aBatch, bBatch) = (Array(a.dropLast(2)), Array(b.dropLast(2)))
            guard let batch = Shape.broadcast(aBatch, bBatch) else {
                throw shapeError("cannot broadcast batch dimensions \(aBatch) and \(bBatch) (shapes \(lhs) and \(rhs))")
            }
            var shape = batch
            if lhs.count > 1 { shape.append(m) }
            if rhs.count > 1 { shape.append(n) }
            // Loops run over every batch, row and column even when another dimension is 0.
            guard let batchIterations = Shape.iterations(batch),
                let work = Shape.iterations([batchIterations, m, k, n, 2])
            else {
                throw tooLarge("\(lhs) and \(rhs)")
            }
            let plan = MatmulPlan(
                batchShape: batch, m: m, k: k, n: n,
                lhsBatchStrides: Shape.broadcastStrides(aBatch, to: batch),
                rhsBatchStrides: Shape.broadcastStrides(bBatch, to: batch))
            return Plan(shape: shape, layout: .matmul(plan), work: work)

        case .transpose:
            let perm = attrs.ints("perm") ?? Array((0..<input.count).reversed())
            guard perm.count == input.count else {
                throw attributeError("perm", "must list all \(input.count) axes of shape \(input), got \(perm)")
            }
            let normalized = try normalizedAxes("perm", perm, rank: input.count)
            guard normalized.count == input.count else {
                throw attributeError("perm", "must be a permutation of 0..<\(input.count), got \(perm)")
            }
            let resolved = perm.map { $0 < 0 ? $0 + input.count : $0 }
            return Plan(
                shape: resolved.map { input[$0] }, layout: .transpose(perm: resolved), work: inputIterations)

        case .reshape:
            let requested = attrs.ints("shape") ?? []
            var shape = requested
            var known = 1
            var wildcard: Int?
            for (axis, dim) in requested.enumerated() {
                if dim == -1 {
                    guard wildcard == nil else { throw attributeError("shape", "may hold one -1, got \(requested)") }
                    wildcard = axis
                    continue
                }
                guard dim >= 0 else { throw attributeError("shape", "has negative size \(dim) in \(requested)") }
                let (product, overflow) = known.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw attributeError("shape", "\(requested) is too large") }
                known = product
            }
            let inputCount = Shape.count(input)
            if let wildcard {
                guard known > 0, inputCount % known == 0 else {
                    throw attributeError(
                        "shape", "\(requested) cannot hold the \(inputCount) elements of shape \(input)")
                }
                shape[wildcard] = inputCount / known
            }
            guard Shape.elementCount(shape) == inputCount else {
                throw attributeError("shape", "\(requested) cannot hold the \(inputCount) elements of shape \(input)")
            }
            return Plan(shape: shape, layout: .copy, work: inputIterations)

        case .squeeze:
            let axes = try attrs.ints("axes").map { (axes) throws(AutodiffError) in
                try normalizedAxes("axes", axes, rank: input.count)
            }
            for axis in axes ?? [] where input[axis] != 1 {
                throw attributeError(
                    "axes",
                    "names axis \(axis) of size \(input[axis]) in shape \(input); only size-1 axes can be squeezed")
            }
            let shape = input.enumerated().filter { axis, dim in
                dim != 1 || !(axes?.contains(axis) ?? true)
            }.map(\.element)
            return Plan(shape: shape, layout: .copy, work: inputIterations)

        case .unsqueeze:
            let axes = attrs.ints("axes") ?? []
            guard input.count + axes.count <= Shape.maxRank else {
                throw .limitExceeded(
                    "node \"\(node)\": unsqueeze would produce a tensor of \(input.count + axes.count) dimensions; "
                        + "the limit is \(Shape.maxRank)",
                    node: node)
            }
            let rank = input.count + axes.count
            var inserted = Set<Int>()
            for axis in axes {
                guard let normalized = Shape.normalize(axis: axis, rank: rank) else {
                    throw attributeError("axes", "has \(axis), out of range for output rank \(rank)")
                }
                guard inserted.insert(normalized).inserted else { throw attributeError("axes", "names \(axis) twice") }
            }
            var remaining = input.makeIterator()
            let shape = (0..<rank).map { inserted.contains($0) ? 1 : (remaining.next() ?? 1) }
            return Plan(shape: shape, layout: .copy, work: inputIterations)

        case .concat:
            guard !input.isEmpty else { throw shapeError("cannot join scalars; give arguments of rank ≥ 1") }
            let requested = attrs.int("axis") ?? 0
            guard let axis = Shape.normalize(axis: requested, rank: input.count) else {
                throw attributeError("axis", "is \(requested), out of range for rank \(input.count)")
            }
            var shape = input
            for arg in args.dropFirst() {
                guard arg.count == input.count,
                    zip(arg, input).enumerated().allSatisfy({ $0.offset == axis || $0.element.0 == $0.element.1 })
                else {
                    throw shapeError("needs equal shapes except on axis \(axis), got \(input) and \(arg)")
                }
                guard let joined = Shape.sum(shape[axis], arg[axis]) else { throw tooLarge("shapes \(input) and \(arg)") }
                shape[axis] = joined
            }
            // The kernel copies one block per argument for every index before the axis.
            guard let iterations = Shape.iterations(shape), let outer = Shape.iterations(Array(shape[..<axis])) else {
                throw tooLarge("\(args.count) arguments of shape \(input)")
            }
            let work = iterations.addingClamped(outer.multipliedClamped(by: args.count))
            return Plan(shape: shape, layout: .concat(axis: axis), work: work)

        case .slice, .sliceBackward:
            let full = self == .slice ? input : (attrs.ints("shape") ?? [])
            guard Shape.elementCount(full) != nil else {
                throw attributeError("shape", "must be non-negative sizes whose product fits, got \(full)")
            }
            let plan = try slicePlan(full: full, attrs: attrs, attributeError: attributeError, tooLarge: tooLarge)
            if self == .slice {
                return Plan(shape: plan.sliced, layout: .slice(plan), work: Shape.iterations(plan.sliced) ?? Int.max)
            }
            guard input == plan.sliced else {
                throw shapeError("needs an argument of the slice's shape \(plan.sliced), got \(input)")
            }
            return Plan(shape: full, layout: .slice(plan), work: Shape.iterations(full) ?? Int.max)

        case .softmax, .logSoftmax:
            let requested = attrs.int("axis") ?? -1
            let axis: Int
            if input.isEmpty, requested == 0 || requested == -1 {
                return Plan(shape: input, layout: .axis(outer: 1, length: 1, inner: 1), work: 1)
            } else if let normalized = Shape.normalize(axis: requested, rank: input.count) {
                axis = normalized
            } else {
                throw attributeError("axis", "is \(requested), out of range for rank \(input.count)")
            }
            guard let outer = Shape.elementCount(Array(input[..<axis])),
                let inner = Shape.elementCount(Array(input[(axis + 1)...]))
            else { throw tooLarge("shape \(input)") }
            return Plan(
                shape: input, layout: .axis(outer: outer, length: input[axis], inner: inner),
                work: inputIterations.multipliedClamped(by: 4))
        }
    }

    private func broadcastPlan(_ args: [[Int]], to shape: [Int]) throws(AutodiffError) -> Plan {
        // Arguments of the result's own shape (the usual case) share one array of strides.
        let own = args.contains(shape) ? Shape.broadcastStrides(shape, to: shape) : []
        let strides = args.map { $0 == shape ? own : Shape.broadcastStrides($0, to: shape) }
        let work = (Shape.iterations(shape) ?? Int.max).multipliedClamped(by: args.count)
        return Plan(shape: shape, layout: .broadcast(strides: strides), work: work)
    }

    /// ONNX `Slice`: negative indices count from the end, out-of-range ones clamp, steps > 0.
    private func slicePlan(
        full: [Int], attrs: Attributes, attributeError: (String, String) -> AutodiffError,
        tooLarge: (String) -> AutodiffError
    ) throws(AutodiffError) -> SlicePlan {
        let starts = attrs.ints("starts") ?? []
        let ends = attrs.ints("ends") ?? []
        let axes = attrs.ints("axes") ?? Array(0..<starts.count)
        let steps = attrs.ints("steps") ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw attributeError(
                "starts",
                "ends, axes and steps must have one entry per sliced axis; got starts \(starts), "
                    + "ends \(ends), axes \(axes), steps \(steps)")
        }
        var planStarts = [Int](repeating: 0, count: full.count)
        var planSteps = [Int](repeating: 1, count: full.count)
        var sliced = full
        var seen = Set<Int>()
        for i in 0..<starts.count {
            guard let axis = Shape.normalize(axis: axes[i], rank: full.count) else {
                throw attributeError("axes", "has \(axes[i]), out of range for rank \(full.count) (shape \(full))")
            }
            guard seen.insert(axis).inserted else { throw attributeError("axes", "names axis \(axes[i]) twice") }
            guard steps[i] > 0 else { throw attributeError("steps", "must be positive, got \(steps[i])") }
            let dim = full[axis]
            func clamp(_ index: Int) -> Int { Swift.min(Swift.max(index < 0 ? index + dim : index, 0), dim) }
            let start = clamp(starts[i])
            let end = clamp(ends[i])
            // A step past the axis length picks the start alone, as the axis length does; clamping
            // keeps stride × step from overflowing.
            let step = Swift.min(steps[i], Swift.max(dim, 1))
            planStarts[axis] = start
            planSteps[axis] = step
            sliced[axis] = end > start ? (end - start - 1) / step + 1 : 0
        }
        // Where the slice starts in the full tensor and how far apart its elements are, checked:
        // a start at the end of a long axis can be far out even when the slice is empty.
        let fullStrides = Shape.strides(full)
        var offset = 0
        var strides = [Int](repeating: 0, count: full.count)
        if Shape.count(sliced) > 0 {
            for axis in 0..<full.count {
                guard let stride = Shape.product(fullStrides[axis], planSteps[axis]),
                    let start = Shape.product(fullStrides[axis], planStarts[axis]),
                    let next = Shape.sum(offset, start)
                else { throw tooLarge("shape \(full)") }
                strides[axis] = stride
                offset = next
            }
        }
        return SlicePlan(
            full: full, starts: planStarts, steps: planSteps, sliced: sliced, offset: offset, strides: strides)
    }
}
