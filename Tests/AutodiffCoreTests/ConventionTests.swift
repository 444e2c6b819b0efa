import Testing

@testable import AutodiffCore

/// Values at kinks, ties and extremes. Each expected number is derived by hand from the contract's
/// convention and was confirmed against PyTorch 2.15 (float64) before being written here.
@Suite("Gradient conventions at kinks and ties")
struct ConventionTests {
    /// `d/dx Σ op(x)` (seed ones) for a 1-D `x`.
    func unaryGradient(_ op: Op, _ x: [Double], attrs: [String: AttributeValue] = [:]) throws -> Tensor {
        try graph(inputs: ["x"], node("y", op, "x", attrs: attrs)).gradient(["x": try vector(x)], wrt: "x")
    }

    func unaryValue(_ op: Op, _ x: [Double], attrs: [String: AttributeValue] = [:]) throws -> Tensor {
        try graph(inputs: ["x"], node("y", op, "x", attrs: attrs)).value(["x": try vector(x)])
    }

    @Test func reluAbsSqrtAtZero() throws {
        // relu'(0) = 0; abs'(0) = 0 (also at -0); sqrt'(x) = 1/(2√x) is +inf at 0.
        expectEqual(try unaryGradient(.relu, [0, -1, 2]), try vector([0, 0, 1]))
        expectEqual(try unaryGradient(.abs, [0, -0.0, -2, 3]), try vector([0, 0, -1, 1]))
        expectEqual(try unaryGradient(.sqrt, [0, 4]), try vector([.infinity, 0.25]))
    }

    @Test func reluOfNaNPassesTheGradient() throws {
        // torch's threshold_backward zeroes only where x <= 0, and NaN <= 0 is false: gradient 1.
        let y = try unaryValue(.relu, [.nan])
        #expect(y.data[0].isNaN)
        expectEqual(try unaryGradient(.relu, [.nan]), try vector([1]))
    }

    @Test func leakyReluAndEluAtZero() throws {
        // leaky_relu'(0) = slope; elu'(0) = alpha·e⁰ = alpha; elu'(-1) = alpha·e⁻¹.
        expectEqual(
            try unaryGradient(.leakyRelu, [0, -1, 1], attrs: ["negative_slope": .number(0.2)]),
            try vector([0.2, 0.2, 1]))
        expectEqual(try unaryGradient(.leakyRelu, [0]), try vector([0.01]))
        expectClose(
            try unaryGradient(.elu, [0, -1, 1], attrs: ["alpha": .number(0.5)]),
            try vector([0.5, 0.5 * 0.36787944117144233, 1]))
        expectEqual(try unaryGradient(.elu, [0]), try vector([1]))
    }

    @Test func zeroGradientOps() throws {
        for op in [Op.sign, .floor, .ceil, .round] {
            expectEqual(try unaryGradient(op, [0, 0.5, -2, 2.5, 3.7]), try filled(0, [5]), "\(op)")
        }
        // sign(0) = 0.
        expectEqual(try unaryValue(.sign, [0, -3, 0.1]), try vector([0, -1, 1]))
    }

    @Test func roundIsHalfToEven() throws {
        let y = try unaryValue(.round, [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994])
        expectEqual(y, try vector([0, 2, 2, -0.0, -2, -2, 0]))
        #expect(y.data[3].sign == .minus, "round(-0.5) is -0.0, as torch.round")
    }

    @Test func maximumMinimumTiesSplit() throws {
        // Where a == b each side gets half the seed; elsewhere the larger (smaller) one gets it all.
        let a = try vector([1, 2, 3])
        let b = try vector([1, 5, 0])
        let maxG = try single(.maximum, arity: 2).gradients(["x0": a, "x1": b])
        expectEqual(maxG["x0"], try vector([0.5, 0, 1]))
        expectEqual(maxG["x1"], try vector([0.5, 1, 0]))
        let minG = try single(.minimum, arity: 2).gradients(["x0": a, "x1": b])
        expectEqual(minG["x0"], try vector([0.5, 1, 0]))
        expectEqual(minG["x1"], try vector([0.5, 0, 1]))
        // A scalar tied with every element collects half of each: 3 × ½.
        let broadcast = try single(.maximum, arity: 2).gradients(["x0": try vector([2, 2, 2]), "x1": scalar(2)])
        expectEqual(broadcast["x1"], scalar(1.5))
    }

    @Test func maxOfNaNFollowsTorchMaxWithoutAxesAndAmaxWithThem() throws {
        // Without axes (torch.max(x)) a NaN maximum is shared by the NaN elements; with axes
        // (torch.amax) the group holding a NaN gets NaN gradients. Confirmed with torch 2.15.
        let x = try matrix([[1, .nan, 2, .nan], [1, 3, 3, 0]])
        for op in [Op.max, .min] {
            let whole = try graph(inputs: ["x"], node("y", op, "x")).gradient(["x": x], wrt: "x")
            expectEqual(whole, try matrix([[0, 0.5, 0, 0.5], [0, 0, 0, 0]]), "\(op)")
            let rows = try graph(inputs: ["x"], node("y", op, "x", attrs: ["axes": .ints([1])]))
                .gradient(["x": x], wrt: "x")
            let firstRowIsNaN = rows.data[0..<4].allSatisfy { $0.isNaN }
            #expect(firstRowIsNaN, "\(op)")
        }
        let rowMax = try graph(inputs: ["x"], node("y", .max, "x", attrs: ["axes": .ints([1])]))
        expectEqual(try rowMax.gradient(["x": x], wrt: "x").row(1), try vector([0, 0.5, 0.5, 0]))
    }

    @Test func maxMinReductionsShareTies() throws {
        let all = try graph(inputs: ["x"], node("y", .max, "x"))
        // max([3,1,3,3]) = 3, shared by three elements: ⅓ each.
        expectClose(
            try all.gradient(["x": try vector([3, 1, 3, 3])], wrt: "x"), try vector([1.0 / 3, 0, 1.0 / 3, 1.0 / 3]))
        let rows = try graph(inputs: ["x"], node("y", .max, "x", attrs: ["axes": .ints([1])]))
        expectClose(
            try rows.gradient(["x": try matrix([[3, 1, 3], [2, 2, 2]])], wrt: "x"),
            try matrix([[0.5, 0, 0.5], [1.0 / 3, 1.0 / 3, 1.0 / 3]]))
        let cols = try graph(inputs: ["x"], node("y", .min, "x", attrs: ["axes": .ints([0]), "keepdims": .bool(true)]))
        expectClose(
            try cols.gradient(["x": try matrix([[1, 4, 0], [1, 2, 0]])], wrt: "x"),
            try matrix([[0.5, 0, 0.5], [0.5, 1, 0.5]]))
    }

    @Test func prodWithZeros() throws {
        let g = try graph(inputs: ["x"], node("y", .prod, "x"))
        // One zero: its gradient is the product of the others (2·3); the others get 0.
        expectEqual(try g.gradient(["x": try vector([2, 0, 3])], wrt: "x"), try vector([0, 6, 0]))
        // Two zeros: every partial product contains a zero.
        expectEqual(try g.gradient(["x": try vector([2, 0, 3, 0])], wrt: "x"), try vector([0, 0, 0, 0]))
        // Along an axis: rows with one zero, two zeros, none (8/1, 8/2, 8/4).
        let rows = try graph(inputs: ["x"], node("y", .prod, "x", attrs: ["axes": .ints([-1])]))
        expectEqual(
            try rows.gradient(["x": try matrix([[2, 0, 3], [0, 0, 5], [1, 2, 4]])], wrt: "x"),
            try matrix([[0, 6, 0], [0, 0, 0], [8, 4, 2]]))
    }

    @Test func powMasks() throws {
        let g = try single(.pow, arity: 2)
        let base = try vector([0, 0, 0, 0, 2, -2, 0])
        let exponent = try vector([0, 2, 0.5, -1, 0, 2, 1])
        // 0⁰ = 1 with both partials 0 (exponent 0 masks d/dbase; base 0 & exponent ≥ 0 masks d/dexp);
        // 0² → d/dbase = 2·0 = 0; 0^0.5 → d/dbase = 0.5·0^-0.5 = inf; 0^-1 = inf, d/dbase = -1·0⁻² = -inf,
        // d/dexp = inf·log 0 = -inf; 2⁰ → d/dexp = ln 2; (-2)² → d/dbase = -4, d/dexp = 4·log(-2) = NaN;
        // 0¹ → d/dbase = 1, d/dexp masked.
        let result = try g.backward(values: ["x0": base, "x1": exponent], outputs: ["y"], seeds: ["y": .ones])
        expectEqual(result.outputs["y"], try vector([1, 0, 0, .infinity, 1, 4, 0]))
        expectEqual(result.gradients["x0"], try vector([0, 0, .infinity, -.infinity, 0, -4, 1]))
        expectClose(result.gradients["x1"], try vector([0, 0, 0, -.infinity, 0.6931471805599453, .nan, 0]))
    }

    @Test func divisionByZeroIsIEEE() throws {
        // 1/0 = inf; d/dx = 1/y = inf; d/dy = -x/y² = -inf.
        let r = try single(.div, arity: 2).backward(
            values: ["x0": try vector([1]), "x1": try vector([0])], outputs: ["y"], seeds: ["y": .ones])
        expectEqual(r.outputs["y"], try vector([.infinity]))
        expectEqual(r.gradients["x0"], try vector([.infinity]))
        expectEqual(r.gradients["x1"], try vector([-.infinity]))
    }

    @Test func clampIsOneOnlyStrictlyInside() throws {
        let x: [Double] = [-2, -1, 0, 1, 2]
        expectEqual(
            try unaryGradient(.clamp, x, attrs: ["min": .number(-1), "max": .number(1)]),
            try vector([0, 0, 1, 0, 0]))
        expectEqual(try unaryGradient(.clamp, x, attrs: ["min": .number(-1)]), try vector([0, 0, 1, 1, 1]))
        expectEqual(try unaryGradient(.clamp, x, attrs: ["max": .number(1)]), try vector([1, 1, 1, 0, 0]))
        expectEqual(
            try unaryValue(.clamp, x, attrs: ["min": .number(-1), "max": .number(1)]), try vector([-1, -1, 0, 1, 1]))
    }

    @Test func softplusIsLinearAboveThreshold() throws {
        // beta·x > threshold → value x, gradient 1; below it sigmoid(beta·x).
        expectEqual(try unaryValue(.softplus, [25]), try vector([25]))
        expectEqual(try unaryGradient(.softplus, [25]), try vector([1]))
        // x = 19: log1p(e¹⁹) = 19.000000005602796, gradient sigmoid(19) = 0.9999999943972036; at 0: ln 2, ½.
        expectClose(try unaryValue(.softplus, [19, 0]), try vector([19.000000005602796, 0.6931471805599453]))
        expectClose(try unaryGradient(.softplus, [19, 0]), try vector([0.9999999943972036, 0.5]))
        let attrs: [String: AttributeValue] = ["beta": .number(0.5), "threshold": .number(10)]
        // beta·x = 15 > 10 → linear; beta·x = 9.5 → 2·log1p(e^9.5), gradient sigmoid(9.5).
        expectClose(try unaryValue(.softplus, [30, 19], attrs: attrs), try vector([30, 19.00014969805726]))
        expectClose(try unaryGradient(.softplus, [30, 19], attrs: attrs), try vector([1, 0.9999251537724894]))
    }

    @Test func geluBothModes() throws {
        // none: x·Φ(x), derivative Φ(x) + x·φ(x); at 1: 0.8413447460685429 + 0.24197072451914337.
        let x: [Double] = [1, -0.5, 0]
        expectClose(try unaryValue(.gelu, x), try vector([0.841344746068543, -0.15426876936299344, 0]), rtol: 1e-14)
        expectClose(
            try unaryGradient(.gelu, x), try vector([1.0833154705876864, 0.13250487534383712, 0.5]), rtol: 1e-14)
        // tanh: ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³); derivative
        // ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
        let tanh: [String: AttributeValue] = ["approximate": .string("tanh")]
        expectClose(
            try unaryValue(.gelu, x, attrs: tanh), try vector([0.8411919906082768, -0.15428599017485606, 0]),
            rtol: 1e-14)
        expectClose(
            try unaryGradient(.gelu, x, attrs: tanh), try vector([1.0829640838457826, 0.13263009646535764, 0.5]),
            rtol: 1e-14)
    }

    @Test func stableSoftmaxFamilyAtExtremeLogits() throws {
        let x = try vector([1000, -1000, 0])
        // softmax = [1, 0, 0] (e⁻¹⁰⁰⁰ underflows); its VJP y⊙(s − y·s) is 0 for any seed.
        let softmax = try graph(inputs: ["x"], node("y", .softmax, "x"))
        expectEqual(try softmax.value(["x": x]), try vector([1, 0, 0]))
        expectEqual(try softmax.gradient(["x": x], wrt: "x"), try vector([0, 0, 0]))
        // Tied huge logits: y = [½, ½], seed [1, 0] → [½·½, ½·(−½)].
        let tie = try vector([1000, 1000])
        expectEqual(try softmax.value(["x": tie]), try vector([0.5, 0.5]))
        expectEqual(
            try softmax.gradient(["x": tie], wrt: "x", seed: .tensor(try vector([1, 0]))), try vector([0.25, -0.25]))
        // log_softmax = x − max − log Σ e^(x−max) = [0, −2000, −1000]; VJP s − softmax·Σs = [1−3, 1, 1].
        let logSoftmax = try graph(inputs: ["x"], node("y", .logSoftmax, "x"))
        expectEqual(try logSoftmax.value(["x": x]), try vector([0, -2000, -1000]))
        expectEqual(try logSoftmax.gradient(["x": x], wrt: "x"), try vector([-2, 1, 1]))
        // logsumexp(±[1000, 1000]) = ±1000 + ln 2, gradient softmax = [½, ½].
        let lse = try graph(inputs: ["x"], node("y", .logsumexp, "x"))
        for sign in [1.0, -1.0] {
            let v = try vector([1000 * sign, 1000 * sign])
            expectClose(try lse.value(["x": v]), scalar(1000 * sign + 0.6931471805599453), rtol: 1e-15)
            expectClose(try lse.gradient(["x": v], wrt: "x"), try vector([0.5, 0.5]), rtol: 1e-12)
        }
        // Along an axis, rows of very different scale.
        let rows = try graph(inputs: ["x"], node("y", .logsumexp, "x", attrs: ["axes": .ints([1])]))
        expectClose(
            try rows.value(["x": try matrix([[1000, 1000], [-1000, -1000]])]),
            try vector([1000.6931471805599, -999.3068528194401]), rtol: 1e-15)
    }

    @Test func whereGivesTheConditionNoGradient() throws {
        let g = try graph(inputs: ["c", "a", "b"], node("y", .where, "c", "a", "b"))
        let grads = try g.gradients(["c": try vector([0, 1, -2]), "a": try vector([1, 2, 3]), "b": scalar(4)])
        expectEqual(grads["c"], try vector([0, 0, 0]))
        expectEqual(grads["a"], try vector([0, 1, 1]))
        expectEqual(grads["b"], scalar(1))
    }

    @Test func precisionNearZeroAndInTails() throws {
        // expm1/log1p keep relative precision for tiny x (x + x²/2, x − x²/2); erf(x) ≈ 2x/√π.
        expectClose(try unaryValue(.expm1, [1e-10]), try vector([1.00000000005e-10]), rtol: 1e-15, atol: 0)
        expectClose(try unaryValue(.log1p, [1e-10]), try vector([9.999999999500001e-11]), rtol: 1e-15, atol: 0)
        expectClose(try unaryValue(.erf, [1e-10]), try vector([1.1283791670955126e-10]), rtol: 1e-15, atol: 0)
        // Tails: sigmoid(−40) = softplus(−40) = e⁻⁴⁰ to double precision (4.248354255291589e-18),
        // and softplus'(−40) = sigmoid(−40); a naive log(1 + e^x) would give 0.
        expectClose(try unaryValue(.sigmoid, [-40]), try vector([4.248354255291589e-18]), rtol: 1e-14, atol: 0)
        expectClose(try unaryValue(.softplus, [-40]), try vector([4.248354255291589e-18]), rtol: 1e-14, atol: 0)
        expectClose(try unaryGradient(.softplus, [-40]), try vector([4.248354255291589e-18]), rtol: 1e-14, atol: 0)
    }
}
