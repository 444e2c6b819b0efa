/// The backward rules: one exhaustive switch over the op table.
///
/// Each rule adds graph nodes, built from the same ops the forward uses, that compute one gradient
/// per argument from the upstream gradient `g`, the arguments and the node's own result `y`;
/// `nil` means no gradient (zero). Because rules are graphs, the backward of a backward comes for
/// free. Formulas follow PyTorch's `derivatives.yaml`, conventions at kinks and ties included.
/// A contribution may have a broadcast shape: the caller sums it back to the argument's shape.
extension Op {
    func backward(
        _ b: inout GraphBuilder, args x: [Graph.Arg], result y: Graph.Arg, attrs: Attributes, plan: Plan,
        gradient g: Graph.Arg
    ) throws(AutodiffError) -> [Graph.Arg?] {
        switch self {
        // MARK: Binary elementwise
        case .add:
            return [g, g]
        case .sub:
            return [g, try b.neg(g)]
        case .mul:
            return [try b.mul(g, x[1]), try b.mul(g, x[0])]
        case .div:
            // PyTorch: grad / other and -grad * ((self / other) / other), with y = self / other.
            return [try b.div(g, x[1]), try b.neg(try b.mul(g, try b.div(y, x[1])))]
        case .pow:
            // d/dbase: 0 where exponent == 0; d/dexponent: 0 where base == 0 and exponent >= 0.
            let power = try b.pow(x[0], try b.sub(x[1], .literal(1)))
            let base = try b.mul(g, try b.where(try b.eq(x[1], .literal(0)), .literal(0), try b.mul(x[1], power)))
            let masked = try b.mul(try b.eq(x[0], .literal(0)), try b.ge(x[1], .literal(0)))
            let exponent = try b.where(masked, .literal(0), try b.mul(g, try b.mul(y, try b.log(x[0]))))
            return [base, exponent]
        case .maximum, .minimum:
            // Ties split the gradient; each side loses it where the other one wins.
            let tie = try b.eq(x[0], x[1])
            let half = try b.div(g, .literal(2))
            let (lhsLoses, rhsLoses) =
                self == .maximum
                ? (try b.lt(x[0], x[1]), try b.gt(x[0], x[1]))
                : (try b.gt(x[0], x[1]), try b.lt(x[0], x[1]))
            return [
                try b.where(lhsLoses, .literal(0), try b.where(tie, half, g)),
                try b.where(rhsLoses, .literal(0), try b.where(tie, half, g)),
            ]
        case .gt, .ge, .lt, .le, .eq, .ne:
            return [nil, nil]

        // MARK: Unary elementwise
        case .neg:
            return [try b.neg(g)]
        case .exp:
            return [try b.mul(g, y)]
        case .log:
            return [try b.div(g, x[0])]
        case .sqrt:
            return [try b.div(g, try b.mul(.literal(2), y))]
        case .sin:
            return [try b.mul(g, try b.apply(.cos, [x[0]]))]
        case .cos:
            return [try b.mul(g, try b.neg(try b.apply(.sin, [x[0]])))]
        case .tan:
            return [try b.mul(g, try b.add(.literal(1), try b.mul(y, y)))]
        case .tanh:
            return [try b.mul(g, try b.sub(.literal(1), try b.mul(y, y)))]
        case .sigmoid:
            return [try b.mul(try b.mul(g, try b.sub(.literal(1), y)), y)]
        case .reciprocal:
            return [try b.mul(try b.neg(g), try b.mul(y, y))]
        case .square:
            return [try b.mul(g, try b.mul(.literal(2), x[0]))]
        case .log1p:
            return [try b.div(g, try b.add(x[0], .literal(1)))]
        case .expm1:
            return [try b.mul(g, try b.add(y, .literal(1)))]
        case .erf:
            let density = try b.apply(.exp, [try b.neg(try b.mul(x[0], x[0]))])
            return [try b.mul(try b.mul(.literal(1.1283791670955126), density), g)]  // 2/√π
        case .abs:
            return [try b.mul(g, try b.apply(.sign, [x[0]]))]
        case .relu:
            return [try b.where(try b.le(y, .literal(0)), .literal(0), g)]
        case .leakyRelu:
            let slope = attrs.number("negative_slope") ?? 0.01
            return [try b.where(try b.gt(x[0], .literal(0)), g, try b.mul(g, .literal(slope)))]
        case .elu:
            let alpha = attrs.number("alpha") ?? 1
            let negative = try b.mul(try b.mul(g, .literal(alpha)), try b.apply(.exp, [x[0]]))
            return [try b.where(try b.le(x[0], .literal(0)), negative, g)]
        case .gelu:
            return [try b.mul(g, try geluDerivative(&b, x[0], tanh: attrs.string("approximate") == "tanh"))]
        case .softplus:
            let scaled = try b.mul(x[0], .literal(attrs.number("beta") ?? 1))
            let z = try b.apply(.exp, [scaled])
            let smooth = try b.div(try b.mul(g, z), try b.add(z, .literal(1)))
            return [try b.where(try b.gt(scaled, .literal(attrs.number("threshold") ?? 20)), g, smooth)]
        case .clamp:
            var inside: Graph.Arg = .literal(1)
            if let lower = attrs.number("min") { inside = try b.mul(inside, try b.gt(x[0], .literal(lower))) }
            if let upper = attrs.number("max") { inside = try b.mul(inside, try b.lt(x[0], .literal(upper))) }
            return [try b.where(inside, g, .literal(0))]
        case .sign, .floor, .ceil, .round:
            return [nil]

        // MARK: Selection
        case .where:
            return [nil, try b.where(x[0], g, .literal(0)), try b.where(x[0], .literal(0), g)]

        // MARK: Reductions
        case .sum, .mean, .prod, .max, .min, .logsumexp:
            guard case .reduce(let reduction) = plan.layout else { throw b.brokenPlan(self) }
            let whole = attrs.ints("axes")?.isEmpty ?? true
            return [try reductionBackward(&b, x[0], y, reduction, whole: whole, gradient: g)]

        // MARK: Linear algebra and layout
        case .matmul:
            guard case .matmul(let plan) = plan.layout else { throw b.brokenPlan(self) }
            return try matmulBackward(&b, x[0], x[1], plan, gradient: g)
        case .transpose:
            guard case .transpose(let perm) = plan.layout else { throw b.brokenPlan(self) }
            var inverse = perm
            for (position, axis) in perm.enumerated() { inverse[axis] = position }
            return [try b.apply(.transpose, [g], Attributes.ints("perm", inverse))]
        case .reshape, .squeeze, .unsqueeze:
            return [try b.reshape(g, b.shape(x[0]))]
        case .broadcastTo:
            return [g]
        case .concat:
            guard case .concat(let axis) = plan.layout else { throw b.brokenPlan(self) }
            var offset = 0
            var gradients: [Graph.Arg?] = []
            for arg in x {
                let length = b.shape(arg)[axis]
                var attrs = Attributes.ints("starts", [offset])
                attrs.merge(Attributes.ints("ends", [offset + length])) { $1 }
                attrs.merge(Attributes.ints("axes", [axis])) { $1 }
                gradients.append(try b.apply(.slice, [g], attrs))
                offset += length
            }
            return gradients
        case .slice:
            guard case .slice(let slice) = plan.layout else { throw b.brokenPlan(self) }
            // The same slice, with every axis spelled out, placed into zeros of the input's shape.
            var attrs = Attributes.ints("shape", slice.full)
            attrs.merge(Attributes.ints("starts", slice.starts)) { $1 }
            let ends = zip(slice.starts, zip(slice.steps, slice.sliced)).map { start, stepAndCount in
                start + stepAndCount.0 * stepAndCount.1
            }
            attrs.merge(Attributes.ints("ends", ends)) { $1 }
            attrs.merge(Attributes.ints("steps", slice.steps)) { $1 }
            return [try b.apply(.sliceBackward, [g], attrs)]
        case .sliceBackward:
            var sliceAttrs = attrs.values
            sliceAttrs["shape"] = nil
            return [try b.apply(.slice, [g], sliceAttrs)]

        // MARK: Normalization
        case .softmax, .logSoftmax:
            let axis = Attributes.ints("axes", [attrs.int("axis") ?? -1]).merging(["keepdims": .bool(true)]) { $1 }
            if self == .softmax {
                let dot = try b.apply(.sum, [try b.mul(g, y)], axis)
                return [try b.mul(y, try b.sub(g, dot))]
            }
            let total = try b.apply(.sum, [g], axis)
            return [try b.sub(g, try b.mul(try b.apply(.exp, [y]), total))]
        }
    }

    /// PyTorch's `gelu_backward` formulas for both modes.
    private func geluDerivative(
        _ b: inout GraphBuilder, _ x: Graph.Arg, tanh: Bool
    ) throws(AutodiffError) -> Graph.Arg {
        let square = try b.mul(x, x)
        if !tanh {
            let cdf = try b.mul(
                .literal(0.5),
                try b.add(
                    .literal(1),
                    try b.apply(.erf, [try b.mul(x, .literal(GeluConstants.sqrtHalf))])))
            let pdf = try b.mul(
                .literal(GeluConstants.pdfScale), try b.apply(.exp, [try b.mul(square, .literal(-0.5))]))
            return try b.add(cdf, try b.mul(x, pdf))
        }
        let cube = try b.mul(square, x)
        let inner = try b.mul(
            .literal(GeluConstants.sqrt2OverPi), try b.add(x, try b.mul(.literal(GeluConstants.kappa), cube)))
        let t = try b.apply(.tanh, [inner])
        let left = try b.mul(.literal(0.5), x)
        let right = try b.add(.literal(1), t)
        let leftDerivative = try b.mul(.literal(0.5), right)
        let rightDerivative = try b.sub(.literal(1), try b.mul(t, t))
        let innerDerivative = try b.mul(
            .literal(GeluConstants.sqrt2OverPi),
            try b.add(.literal(1), try b.mul(.literal(3 * GeluConstants.kappa), square)))
        return try b.add(leftDerivative, try b.mul(try b.mul(left, rightDerivative), innerDerivative))
    }

    private func reductionBackward(
        _ b: inout GraphBuilder, _ x: Graph.Arg, _ y: Graph.Arg, _ reduction: Reduction, whole: Bool,
        gradient g: Graph.Arg
    ) throws(AutodiffError) -> Graph.Arg {
        let kept = reduction.keptShape
        let axes = Attributes.ints("axes", reduction.axes).merging(["keepdims": .bool(true)]) { $1 }
        // Upstream gradient and result with reduced axes as size 1; broadcasting does the rest.
        let gk = try b.reshape(g, kept)
        switch self {
        case .sum:
            return gk
        case .mean:
            return try b.div(gk, .literal(Double(reduction.count)))
        case .max, .min:
            // Ties share evenly: (g / count) * mask, as PyTorch's evenly_distribute_backward. Without
            // `axes` (torch.max(x)) a NaN result is shared by the NaN elements; with `axes`
            // (torch.amax) it makes the group's gradient NaN.
            let m = try b.reshape(y, kept)
            var mask = try b.eq(x, m)
            if whole { mask = try b.add(mask, try b.mul(try b.apply(.ne, [x, x]), try b.apply(.ne, [m, m]))) }
            let count = try b.apply(.sum, [mask], axes)
            return try b.mul(try b.div(gk, count), mask)
        case .logsumexp:
            return try b.mul(gk, try b.apply(.exp, [try b.sub(x, try b.reshape(y, kept))]))
        case .prod:
            // Exact with zeros: no zero → prod/x; one zero → the product of the others at the zero;
            // more than one zero → 0.
            let isZero = try b.eq(x, .literal(0))
            let zeros = try b.apply(.sum, [isZero], axes)
            let safe = try b.where(isZero, .literal(1), x)
            let others = try b.apply(.prod, [safe], axes)
            let single = try b.where(
                try b.eq(zeros, .literal(1)), try b.where(isZero, others, .literal(0)), .literal(0))
            let factor = try b.where(try b.eq(zeros, .literal(0)), try b.div(others, safe), single)
            return try b.mul(gk, factor)
        default:
            throw b.brokenPlan(self)
        }
    }

    /// `torch.matmul`'s backward: 1-D arguments are promoted to matrices, batch dimensions that
    /// were broadcast are summed back.
    private func matmulBackward(
        _ b: inout GraphBuilder, _ lhs: Graph.Arg, _ rhs: Graph.Arg, _ plan: MatmulPlan, gradient g: Graph.Arg
    ) throws(AutodiffError) -> [Graph.Arg?] {
        let (lhsShape, rhsShape) = (b.shape(lhs), b.shape(rhs))
        let a = lhsShape.count == 1 ? try b.reshape(lhs, [1, plan.k]) : lhs
        let c = rhsShape.count == 1 ? try b.reshape(rhs, [plan.k, 1]) : rhs
        let g2 = try b.reshape(g, plan.batchShape + [plan.m, plan.n])
        let lhsGradient = try b.apply(.matmul, [g2, try b.swapLastAxes(c)])
        let rhsGradient = try b.apply(.matmul, [try b.swapLastAxes(a), g2])
        return [
            try b.reshape(try b.sumTo(lhsGradient, b.shape(a)), lhsShape),
            try b.reshape(try b.sumTo(rhsGradient, b.shape(c)), rhsShape),
        ]
    }
}
