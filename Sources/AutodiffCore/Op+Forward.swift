/// The forward kernels: one exhaustive switch over the op table. Shapes and attributes were
/// checked by `plan`, so the only failures are a passed `deadline` (`deadlineExceeded`, checked
/// inside long kernels) and a plan that does not fit the op (`internalError`, a broken invariant).
extension Op {
    func evaluate(
        _ args: [Tensor], plan: Plan, attrs: Attributes, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        func unary(_ function: UnaryFunction) throws(AutodiffError) -> Tensor {
            try Kernels.unary(function, args[0], deadline: deadline)
        }
        func binary(_ function: BinaryFunction) throws(AutodiffError) -> Tensor {
            guard case .broadcast(let strides) = plan.layout else { throw brokenPlan }
            return try Kernels.binary(
                function, args[0], args[1], strides: strides, shape: plan.shape, deadline: deadline)
        }
        func reduce(_ function: ReduceFunction) throws(AutodiffError) -> Tensor {
            guard case .reduce(let reduction) = plan.layout else { throw brokenPlan }
            return try Kernels.reduce(function, args[0], reduction, shape: plan.shape, deadline: deadline)
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
        case .neg: return try unary(.neg)
        case .exp: return try unary(.exp)
        case .log: return try unary(.log)
        case .sqrt: return try unary(.sqrt)
        case .sin: return try unary(.sin)
        case .cos: return try unary(.cos)
        case .tan: return try unary(.tan)
        case .tanh: return try unary(.tanh)
        case .sigmoid: return try unary(.sigmoid)
        case .reciprocal: return try unary(.reciprocal)
        case .square: return try unary(.square)
        case .log1p: return try unary(.log1p)
        case .expm1: return try unary(.expm1)
        case .erf: return try unary(.erf)
        case .abs: return try unary(.abs)
        case .relu: return try unary(.relu)
        case .leakyRelu: return try unary(.leakyRelu(slope: attrs.number("negative_slope") ?? 0.01))
        case .elu: return try unary(.elu(alpha: attrs.number("alpha") ?? 1))
        case .gelu: return try unary(.gelu(tanhApproximation: attrs.string("approximate") == "tanh"))
        case .softplus:
            return try unary(.softplus(beta: attrs.number("beta") ?? 1, threshold: attrs.number("threshold") ?? 20))
        case .clamp: return try unary(.clamp(lower: attrs.number("min"), upper: attrs.number("max")))
        case .sign: return try unary(.sign)
        case .floor: return try unary(.floor)
        case .ceil: return try unary(.ceil)
        case .round: return try unary(.round)
        case .where:
            guard case .broadcast(let strides) = plan.layout else { throw brokenPlan }
            return try Kernels.select(args, strides: strides, shape: plan.shape, deadline: deadline)

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
            return try Kernels.matmul(args[0], args[1], matmul, shape: plan.shape, deadline: deadline)
        case .transpose:
            guard case .transpose(let perm) = plan.layout else { throw brokenPlan }
            return try Kernels.transpose(args[0], perm: perm, shape: plan.shape, deadline: deadline)
        case .reshape, .squeeze, .unsqueeze:
            return Tensor(validShape: plan.shape, data: args[0].data)
        case .broadcastTo:
            guard case .broadcast(let strides) = plan.layout else { throw brokenPlan }
            return try Kernels.gather(args[0], strides: strides[0], shape: plan.shape, deadline: deadline)
        case .concat:
            guard case .concat(let axis) = plan.layout else { throw brokenPlan }
            return Kernels.concat(args, axis: axis, shape: plan.shape)
        case .slice:
            guard case .slice(let slice) = plan.layout else { throw brokenPlan }
            return try Kernels.slice(args[0], slice, deadline: deadline)
        case .sliceBackward:
            guard case .slice(let slice) = plan.layout else { throw brokenPlan }
            return try Kernels.unslice(args[0], slice, deadline: deadline)

        // MARK: Normalization
        case .softmax, .logSoftmax:
            guard case .axis(let outer, let length, let inner) = plan.layout else { throw brokenPlan }
            return try Kernels.softmax(
                args[0], outer: outer, length: length, inner: inner, logarithm: self == .logSoftmax, deadline: deadline)
        }
    }

    /// A plan whose layout is not the one this op's `plan` makes: a bug, never the client's input.
    private var brokenPlan: AutodiffError {
        .internalError("the \(rawValue) kernel was given a plan of another kind")
    }
}

/// Constants of PyTorch's GELU kernels.
enum GeluConstants {
    static let sqrtHalf = 0.70710678118654752440  // M_SQRT1_2
    static let sqrt2OverPi = 0.79788456080286535588  // M_SQRT2 * M_2_SQRTPI * 0.5
    static let kappa = 0.044715
    static let pdfScale = 0.39894228040143267794  // M_2_SQRTPI * M_SQRT1_2 * 0.5
}
