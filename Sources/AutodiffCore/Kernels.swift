#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loops over tensor data. Inputs are validated; each kernel allocates its result once and no
/// memory per element.
enum Kernels {
    // MARK: Elementwise

    /// The scalar function of a unary elementwise op, matching PyTorch's CPU kernels.
    static func unary(_ op: Op, _ attrs: Attributes) -> (Double) -> Double {
        switch op {
        case .neg: return { -$0 }
        case .exp: return { exp($0) }
        case .log: return { log($0) }
        case .sqrt: return { $0.squareRoot() }
        case .sin: return { sin($0) }
        case .cos: return { cos($0) }
        case .tan: return { tan($0) }
        case .tanh: return { tanh($0) }
        case .sigmoid: return { 1 / (1 + exp(-$0)) }
        case .reciprocal: return { 1 / $0 }
        case .square: return { $0 * $0 }
        case .log1p: return { log1p($0) }
        case .expm1: return { expm1($0) }
        case .erf: return { erf($0) }
        case .abs: return { Swift.abs($0) }
        case .relu: return { $0 < 0 ? 0 : $0 }
        case .leakyRelu:
            let slope = attrs.number("negative_slope") ?? 0.01
            return { $0 > 0 ? $0 : $0 * slope }
        case .elu:
            let alpha = attrs.number("alpha") ?? 1
            return { $0 > 0 ? $0 : alpha * expm1($0) }
        case .gelu:
            if attrs.string("approximate") == "tanh" {
                return { x in 0.5 * x * (1 + tanh(GeluConstants.sqrt2OverPi * (x + GeluConstants.kappa * x * x * x))) }
            }
            return { x in x * 0.5 * (1 + erf(x * GeluConstants.sqrtHalf)) }
        case .softplus:
            let beta = attrs.number("beta") ?? 1
            let threshold = attrs.number("threshold") ?? 20
            return { x in x * beta > threshold ? x : log1p(exp(x * beta)) / beta }
        case .clamp:
            let lower = attrs.number("min")
            let upper = attrs.number("max")
            return { x in
                var y = x
                if let lower, y < lower { y = lower }
                if let upper, y > upper { y = upper }
                return y
            }
        case .sign: return { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case .floor: return { $0.rounded(.down) }
        case .ceil: return { $0.rounded(.up) }
        case .round: return { $0.rounded(.toNearestOrEven) }
        default: fatalError("\(op) is not a unary elementwise op")
        }
    }

    // MARK: Elementwise with broadcasting

    static func binary(
        _ a: Tensor, _ b: Tensor, strides: [[Int]], shape: [Int], _ f: (Double, Double) -> Double
    ) -> Tensor {
        let count = Shape.count(shape)
        let data = [Double](unsafeUninitializedCapacity: count) { out, initialized in
            a.data.withUnsafeBufferPointer { a in
                b.data.withUnsafeBufferPointer { b in
                    if a.count == count && b.count == count {
                        for i in 0..<count { out[i] = f(a[i], b[i]) }
                    } else if b.count == 1 && a.count == count {
                        let y = b[0]
                        for i in 0..<count { out[i] = f(a[i], y) }
                    } else if a.count == 1 && b.count == count {
                        let x = a[0]
                        for i in 0..<count { out[i] = f(x, b[i]) }
                    } else {
                        var cursor = StridedCursor(shape: shape, strides: strides)
                        for i in 0..<count {
                            out[i] = f(a[cursor.offsets[0]], b[cursor.offsets[1]])
                            cursor.advance()
                        }
                    }
                }
            }
            initialized = count
        }
        return Tensor(validShape: shape, data: data)
    }

    static func ternary(
        _ args: [Tensor], strides: [[Int]], shape: [Int], _ f: (Double, Double, Double) -> Double
    ) -> Tensor {
        let count = Shape.count(shape)
        var data = [Double](repeating: 0, count: count)
        var cursor = StridedCursor(shape: shape, strides: strides)
        for i in 0..<count {
            let o = cursor.offsets
            data[i] = f(args[0].data[o[0]], args[1].data[o[1]], args[2].data[o[2]])
            cursor.advance()
        }
        return Tensor(validShape: shape, data: data)
    }

    /// Reads `x` through `strides` into a new tensor of `shape` (broadcast, transpose, slice).
    static func gather(_ x: Tensor, strides: [Int], shape: [Int], base: Int = 0) -> Tensor {
        let count = Shape.count(shape)
        if count == x.count && strides == Shape.strides(shape) && base == 0 {
            return Tensor(validShape: shape, data: x.data)
        }
        let data = [Double](unsafeUninitializedCapacity: count) { out, initialized in
            x.data.withUnsafeBufferPointer { x in
                var cursor = StridedCursor(shape: shape, strides: [strides])
                for i in 0..<count {
                    out[i] = x[base + cursor.offsets[0]]
                    cursor.advance()
                }
            }
            initialized = count
        }
        return Tensor(validShape: shape, data: data)
    }

    // MARK: Reductions

    /// Calls `body(value, resultOffset)` for every element of `x`.
    static func forEach(_ x: Tensor, _ reduction: Reduction, _ body: (Double, Int) -> Void) {
        x.data.withUnsafeBufferPointer { x in
            var cursor = StridedCursor(shape: reduction.inputShape, strides: [reduction.resultStrides])
            for i in 0..<x.count {
                body(x[i], cursor.offsets[0])
                cursor.advance()
            }
        }
    }

    static func fold(
        _ x: Tensor, _ reduction: Reduction, shape: [Int], initial: Double, _ combine: (Double, Double) -> Double
    ) -> Tensor {
        var result = [Double](repeating: initial, count: Shape.count(shape))
        if result.count == 1 {
            var accumulator = initial
            for value in x.data { accumulator = combine(accumulator, value) }
            result[0] = accumulator
        } else {
            forEach(x, reduction) { value, out in result[out] = combine(result[out], value) }
        }
        return Tensor(validShape: shape, data: result)
    }

    // MARK: Linear algebra and layout

    static func matmul(_ a: Tensor, _ b: Tensor, _ plan: MatmulPlan, shape: [Int]) -> Tensor {
        let (m, k, n) = (plan.m, plan.k, plan.n)
        let batches = Shape.count(plan.batchShape)
        var data = [Double](repeating: 0, count: batches * m * n)
        var cursor = StridedCursor(shape: plan.batchShape, strides: [plan.lhsBatchStrides, plan.rhsBatchStrides])
        a.data.withUnsafeBufferPointer { a in
            b.data.withUnsafeBufferPointer { b in
                data.withUnsafeMutableBufferPointer { c in
                    for batch in 0..<batches {
                        let aBase = cursor.offsets[0] * m * k
                        let bBase = cursor.offsets[1] * k * n
                        let cBase = batch * m * n
                        for i in 0..<m {
                            for p in 0..<k {
                                let x = a[aBase + i * k + p]
                                let row = bBase + p * n
                                let out = cBase + i * n
                                for j in 0..<n { c[out + j] += x * b[row + j] }
                            }
                        }
                        cursor.advance()
                    }
                }
            }
        }
        return Tensor(validShape: shape, data: data)
    }

    static func transpose(_ x: Tensor, perm: [Int], shape: [Int]) -> Tensor {
        let strides = Shape.strides(x.shape)
        return gather(x, strides: perm.map { strides[$0] }, shape: shape)
    }

    static func concat(_ args: [Tensor], axis: Int, shape: [Int]) -> Tensor {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        var data: [Double] = []
        data.reserveCapacity(Shape.count(shape))
        for o in 0..<outer {
            for arg in args {
                let block = arg.shape[axis] * inner
                data.append(contentsOf: arg.data[(o * block)..<((o + 1) * block)])
            }
        }
        return Tensor(validShape: shape, data: data)
    }

    static func slice(_ x: Tensor, _ plan: SlicePlan) -> Tensor {
        gather(x, strides: plan.strides, shape: plan.sliced, base: plan.offset)
    }

    /// Writes `g` into the slice of a zero tensor of the full shape.
    static func unslice(_ g: Tensor, _ plan: SlicePlan) -> Tensor {
        var data = [Double](repeating: 0, count: Shape.count(plan.full))
        var cursor = StridedCursor(shape: plan.sliced, strides: [plan.strides])
        for value in g.data {
            data[plan.offset + cursor.offsets[0]] = value
            cursor.advance()
        }
        return Tensor(validShape: plan.full, data: data)
    }

    // MARK: Normalization

    /// Softmax (or log-softmax) along the middle axis of `outer × length × inner`, shifted by the
    /// maximum so that logits of ±1000 are fine.
    static func softmax(_ x: Tensor, outer: Int, length: Int, inner: Int, logarithm: Bool) -> Tensor {
        var data = x.data
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var maximum = -Double.infinity
                for j in 0..<length { maximum = Swift.max(maximum, x.data[base + j * inner]) }
                var total = 0.0
                for j in 0..<length { total += exp(x.data[base + j * inner] - maximum) }
                let logTotal = log(total)
                for j in 0..<length {
                    let shifted = x.data[base + j * inner] - maximum
                    data[base + j * inner] = logarithm ? shifted - logTotal : exp(shifted) / total
                }
            }
        }
        return Tensor(validShape: x.shape, data: data)
    }
}

// libm under names that `Op`'s cases (`.exp`, `.log`, `.pow`) do not shadow inside its extensions.
func libmExp(_ x: Double) -> Double { exp(x) }
func libmLog(_ x: Double) -> Double { log(x) }
func libmPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
