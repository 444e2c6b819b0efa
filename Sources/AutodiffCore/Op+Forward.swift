/// The forward kernels: one exhaustive switch over the op table picks each node's `Kernel` once,
/// from its plan, attributes and argument shapes. Shapes and attributes were checked by `plan`, so
/// running a kernel fails only on a passed deadline; a plan that does not fit the op is an
/// `internalError` (a broken invariant) when the kernel is picked.
extension Op {
    /// The kernel that computes this op for arguments of `args` shapes, planned as `plan`.
    func kernel(plan: Plan, attrs: Attributes, args: [[Int]]) throws(AutodiffError) -> Kernel {
        func binary(_ function: BinaryFunction) throws(AutodiffError) -> Kernel {
            guard case .broadcast(let strides) = plan.layout else { throw brokenPlan }
            return .binary(
                function, strides: strides, shape: plan.shape, lhsCount: Shape.count(args[0]),
                rhsCount: Shape.count(args[1]))
        }
        func reduce(_ function: ReduceFunction) throws(AutodiffError) -> Kernel {
            guard case .reduce(let reduction) = plan.layout else { throw brokenPlan }
            return .reduce(function, reduction, inputCount: Shape.count(args[0]))
        }
        /// Reads the argument through `strides`, or copies it when that is its own layout.
        func gather(_ strides: [Int], base: Int = 0) -> Kernel {
            let identity = Shape.count(plan.shape) == Shape.count(args[0]) && strides == Shape.strides(plan.shape)
            return identity && base == 0 ? .copy : .gather(strides: strides, shape: plan.shape, base: base)
        }

        switch self {
        // MARK: Elementwise
        case .add: return try binary(.add)
        case .sub: return try binary(.sub)
        case .mul: return try binary(.mul)
        case .div: return try binary(.div)
        case .pow: return try binary(.pow)
        case .maximum: return try binary(.maximum)
        case .minimum: return try binary(.minimum)
        case .gt: return try binary(.gt)
        case .ge: return try binary(.ge)
        case .lt: return try binary(.lt)
        case .le: return try binary(.le)
        case .eq: return try binary(.eq)
        case .ne: return try binary(.ne)
        case .neg: return .unary(.neg)
        case .exp: return .unary(.exp)
        case .log: return .unary(.log)
        case .sqrt: return .unary(.sqrt)
        case .sin: return .unary(.sin)
        case .cos: return .unary(.cos)
        case .tan: return .unary(.tan)
        case .tanh: return .unary(.tanh)
        case .sigmoid: return .unary(.sigmoid)
        case .reciprocal: return .unary(.reciprocal)
        case .square: return .unary(.square)
        case .log1p: return .unary(.log1p)
        case .expm1: return .unary(.expm1)
        case .erf: return .unary(.erf)
        case .abs: return .unary(.abs)
        case .relu: return .unary(.relu)
        case .leakyRelu: return .unary(.leakyRelu(slope: attrs.number("negative_slope") ?? 0.01))
        case .elu: return .unary(.elu(alpha: attrs.number("alpha") ?? 1))
        case .gelu: return .unary(.gelu(tanhApproximation: attrs.string("approximate") == "tanh"))
        case .softplus:
            return .unary(.softplus(beta: attrs.number("beta") ?? 1, threshold: attrs.number("threshold") ?? 20))
        case .clamp: return .unary(.clamp(lower: attrs.number("min"), upper: attrs.number("max")))
        case .sign: return .unary(.sign)
        case .floor: return .unary(.floor)
        case .ceil: return .unary(.ceil)
        case .round: return .unary(.round)
        case .where:
            guard case .broadcast(let strides) = plan.layout else { throw brokenPlan }
            return .select(strides: strides, shape: plan.shape)

        // MARK: Reductions
        case .sum: return try reduce(.sum)
        case .mean: return try reduce(.mean)
        case .prod: return try reduce(.prod)
        case .max: return try reduce(.max)
        case .min: return try reduce(.min)
        case .logsumexp: return try reduce(.logsumexp)

        // MARK: Linear algebra and layout
        case .matmul:
            guard case .matmul(let matmul) = plan.layout else { throw brokenPlan }
            return .matmul(matmul, transposeA: false, transposeB: false)
        case .transpose:
            guard case .transpose(let perm) = plan.layout else { throw brokenPlan }
            let strides = Shape.strides(args[0])
            return gather(perm.map { strides[$0] })
        case .reshape, .squeeze, .unsqueeze:
            return .copy
        case .broadcastTo:
            guard case .broadcast(let strides) = plan.layout else { throw brokenPlan }
            return gather(strides[0])
        case .concat:
            guard case .concat(let axis) = plan.layout else { throw brokenPlan }
            let inner = plan.shape[(axis + 1)...].reduce(1, *)
            return .concat(blocks: args.map { $0[axis] * inner }, outer: plan.shape[..<axis].reduce(1, *))
        case .slice:
            guard case .slice(let slice) = plan.layout else { throw brokenPlan }
            return gather(slice.strides, base: slice.offset)
        case .sliceBackward:
            guard case .slice(let slice) = plan.layout else { throw brokenPlan }
            return .unslice(slice, inputCount: Shape.count(args[0]))

        // MARK: Normalization
        case .softmax, .logSoftmax:
            guard case .axis(let outer, let length, let inner) = plan.layout else { throw brokenPlan }
            return .softmax(outer: outer, length: length, inner: inner, logarithm: self == .logSoftmax)
        }
    }

    /// Computes this op on tensors, through the same kernel as a planned run (for one-off use and
    /// tests).
    func evaluate(
        _ args: [Tensor], plan: Plan, attrs: Attributes, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        let kernel = try kernel(plan: plan, attrs: attrs, args: args.map(\.shape))
        // The arguments end to end, then the result.
        var operands: [Int] = []
        var size = 0
        for arg in args {
            operands.append(size)
            size += arg.count
        }
        let count = Shape.count(plan.shape)
        let arena = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, size + count))
        defer { arena.deallocate() }
        for (arg, offset) in zip(args, operands) {
            arg.data.withUnsafeBufferPointer { data in
                if let source = data.baseAddress { (arena + offset).initialize(from: source, count: data.count) }
            }
        }
        let memory = Memory(arena: arena, inputs: UnsafeBufferPointer(start: nil, count: 0))
        let finished = operands.withUnsafeBufferPointer { operands in
            kernel.run(memory, operands: operands, into: arena + size, count: count, deadline: deadline)
        }
        guard finished else { throw Kernels.deadlineError }
        return Tensor(validShape: plan.shape, data: Array(UnsafeBufferPointer(start: arena + size, count: count)))
    }

    /// A plan whose layout is not the one this op's `plan` makes: a bug, never the client's input.
    private var brokenPlan: AutodiffError {
        .internalError("the \(rawValue) kernel was given a plan of another kind")
    }
}

/// A node's kernel with what it needs from the node's plan, attributes and argument shapes.
enum Kernel: Sendable {
    case unary(UnaryFunction)
    /// `sin` and `cos` of one argument together, for a `sin` node and a `cos` node of the same
    /// value: the result gets the sine (the cosine with `cosineFirst`), and the other is written
    /// at operand 1, an arena place.
    case sinCos(cosineFirst: Bool)
    case binary(BinaryFunction, strides: [[Int]], shape: [Int], lhsCount: Int, rhsCount: Int)
    /// `where`.
    case select(strides: [[Int]], shape: [Int])
    case reduce(ReduceFunction, Reduction, inputCount: Int)
    /// With a transpose flag, that argument holds the swap of its last two axes.
    case matmul(MatmulPlan, transposeA: Bool, transposeB: Bool)
    /// Reads the argument through strides from an offset: transpose, broadcast, slice.
    case gather(strides: [Int], shape: [Int], base: Int)
    /// The argument's elements in order: reshape, squeeze, unsqueeze, and layout ops that keep the order.
    case copy
    case concat(blocks: [Int], outer: Int)
    case unslice(SlicePlan, inputCount: Int)
    case softmax(outer: Int, length: Int, inner: Int, logarithm: Bool)
    /// A group of elementwise nodes computed block by block (`Fusion`).
    case fused(FusedSteps)

    /// Computes the `count` elements at `out` from the arguments at `operands` of `memory`; false
    /// (having stopped) when `deadline` passed.
    @inline(__always)
    func run(
        _ memory: Memory, operands: UnsafeBufferPointer<Int>, into out: UnsafeMutablePointer<Double>, count: Int,
        deadline: ContinuousClock.Instant?
    ) -> Bool {
        func arg(_ i: Int) -> UnsafePointer<Double> { memory[operands[i]] }
        switch self {
        case .unary(let function):
            return Kernels.unary(function, arg(0), into: out, count: count, deadline: deadline)
        case .sinCos(let cosineFirst):
            let other = UnsafeMutablePointer(mutating: memory[operands[1]])
            return Kernels.sinCos(
                arg(0), sines: cosineFirst ? other : out, cosines: cosineFirst ? out : other, count: count,
                deadline: deadline)
        case .binary(let function, let strides, let shape, let lhsCount, let rhsCount):
            return Kernels.binary(
                function, arg(0), count: lhsCount, arg(1), count: rhsCount, strides: strides, shape: shape,
                into: out, count: count, deadline: deadline)
        case .select(let strides, let shape):
            return Kernels.select(
                arg(0), arg(1), arg(2), strides: strides, shape: shape, into: out, count: count, deadline: deadline)
        case .reduce(let function, let reduction, let inputCount):
            return Kernels.reduce(
                function, arg(0), inputCount: inputCount, reduction, into: out, count: count, deadline: deadline)
        case .matmul(let plan, let transposeA, let transposeB):
            return Kernels.matmul(
                arg(0), arg(1), plan, transposeA: transposeA, transposeB: transposeB, into: out, count: count,
                deadline: deadline)
        case .gather(let strides, let shape, let base):
            return Kernels.gather(
                arg(0), strides: strides, shape: shape, base: base, into: out, count: count, deadline: deadline)
        case .copy:
            Kernels.copy(arg(0), into: out, count: count)
            return true
        case .concat(let blocks, let outer):
            Kernels.concat(arg, blocks: blocks, outer: outer, into: out, count: count)
            return true
        case .unslice(let slice, let inputCount):
            return Kernels.unslice(arg(0), inputCount: inputCount, slice, into: out, count: count, deadline: deadline)
        case .softmax(let outer, let length, let inner, let logarithm):
            return Kernels.softmax(
                arg(0), outer: outer, length: length, inner: inner, logarithm: logarithm, into: out, count: count,
                deadline: deadline)
        case .fused(let steps):
            return steps.run(memory, operands: operands, into: out, count: count, deadline: deadline)
        }
    }
}

/// Constants of PyTorch's GELU kernels.
enum GeluConstants {
    static let sqrtHalf = 0.70710678118654752440  // M_SQRT1_2
    static let sqrt2OverPi = 0.79788456080286535588  // M_SQRT2 * M_2_SQRTPI * 0.5
    static let kappa = 0.044715
    static let pdfScale = 0.39894228040143267794  // M_2_SQRTPI * M_SQRT1_2 * 0.5
}
