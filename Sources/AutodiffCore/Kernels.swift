#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loops over tensor data. Inputs are validated; each kernel allocates its result once and no
/// memory per element. Hot loops run over raw buffers with the op chosen outside the loop, and
/// every kernel returns at once when its result is empty.
///
/// Long kernels check `deadline` every `elementsPerCheck` elements (or `flopsPerCall` flops of a
/// matrix product) and throw `deadlineExceeded` when it has passed.
enum Kernels {
    /// Elements an elementwise or reduction loop runs between two deadline checks.
    static let elementsPerCheck = 1 << 20
    /// The most floating-point operations one uninterrupted matrix-product call runs.
    static let flopsPerCall = 100_000_000

    static func isPast(_ deadline: ContinuousClock.Instant?) -> Bool {
        if let deadline { ContinuousClock.now > deadline } else { false }
    }

    static let deadlineError = AutodiffError.deadlineExceeded(
        "the computation did not finish before the request deadline")

    /// A result of `count` elements written by `body` into uninitialized memory, or `nil` when
    /// `body` returned false (the deadline passed).
    @inline(__always)
    private static func filling(_ count: Int, _ body: (UnsafeMutablePointer<Double>) -> Bool) -> [Double]? {
        var finished = true
        let data = [Double](unsafeUninitializedCapacity: count) { out, initialized in
            if let base = out.baseAddress { finished = body(base) }
            initialized = finished ? count : 0
        }
        return finished ? data : nil
    }

    /// Calls `body` on consecutive ranges of `0..<count`, at most `elementsPerCheck` long, checking
    /// `deadline` between them; false (having stopped) when it passed.
    @inline(__always)
    private static func chunks(
        _ count: Int, deadline: ContinuousClock.Instant?, _ body: (Range<Int>) -> Void
    ) -> Bool {
        var start = 0
        while start < count {
            if start > 0, isPast(deadline) { return false }
            let end = Swift.min(count, start + elementsPerCheck)
            body(start..<end)
            start = end
        }
        return true
    }

    // MARK: Unary elementwise

    /// `f(x)` for every element, `elementsPerCheck` at a time.
    @inline(__always)
    private static func map(
        _ x: Tensor, deadline: ContinuousClock.Instant?, _ f: (Double) -> Double
    ) throws(AutodiffError) -> Tensor {
        let count = x.count
        guard count > 0 else { return x }
        let data = x.data.withUnsafeBufferPointer { x in
            let input = x.baseAddress.unsafelyUnwrapped
            return filling(count) { out in
                chunks(count, deadline: deadline) { range in
                    for i in range { out[i] = f(input[i]) }
                }
            }
        }
        guard let data else { throw deadlineError }
        return Tensor(validShape: x.shape, data: data)
    }

    /// Applies a unary elementwise op, matching PyTorch's CPU kernels value for value.
    static func unary(
        _ function: UnaryFunction, _ x: Tensor, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        switch function {
        case .neg: return try map(x, deadline: deadline) { -$0 }
        case .exp: return try map(x, deadline: deadline) { exp($0) }
        case .log: return try map(x, deadline: deadline) { log($0) }
        case .sqrt: return try map(x, deadline: deadline) { $0.squareRoot() }
        case .sin: return try map(x, deadline: deadline) { sin($0) }
        case .cos: return try map(x, deadline: deadline) { cos($0) }
        case .tan: return try map(x, deadline: deadline) { tan($0) }
        case .tanh: return try map(x, deadline: deadline) { tanh($0) }
        case .sigmoid: return try map(x, deadline: deadline) { 1 / (1 + exp(-$0)) }
        case .reciprocal: return try map(x, deadline: deadline) { 1 / $0 }
        case .square: return try map(x, deadline: deadline) { $0 * $0 }
        case .log1p: return try map(x, deadline: deadline) { log1p($0) }
        case .expm1: return try map(x, deadline: deadline) { expm1($0) }
        case .erf: return try map(x, deadline: deadline) { erf($0) }
        case .abs: return try map(x, deadline: deadline) { Swift.abs($0) }
        case .relu: return try map(x, deadline: deadline) { $0 < 0 ? 0 : $0 }
        case .leakyRelu(let slope): return try map(x, deadline: deadline) { $0 > 0 ? $0 : $0 * slope }
        case .elu(let alpha): return try map(x, deadline: deadline) { $0 > 0 ? $0 : alpha * expm1($0) }
        case .gelu(tanhApproximation: true):
            return try map(x, deadline: deadline) { x in
                0.5 * x * (1 + tanh(GeluConstants.sqrt2OverPi * (x + GeluConstants.kappa * x * x * x)))
            }
        case .gelu(tanhApproximation: false):
            return try map(x, deadline: deadline) { x in x * 0.5 * (1 + erf(x * GeluConstants.sqrtHalf)) }
        case .softplus(let beta, let threshold):
            return try map(x, deadline: deadline) { x in x * beta > threshold ? x : log1p(exp(x * beta)) / beta }
        case .clamp(let lower, let upper):
            return try map(x, deadline: deadline) { x in
                var y = x
                if let lower, y < lower { y = lower }
                if let upper, y > upper { y = upper }
                return y
            }
        case .sign: return try map(x, deadline: deadline) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case .floor: return try map(x, deadline: deadline) { $0.rounded(.down) }
        case .ceil: return try map(x, deadline: deadline) { $0.rounded(.up) }
        case .round: return try map(x, deadline: deadline) { $0.rounded(.toNearestOrEven) }
        }
    }

    // MARK: Elementwise with broadcasting

    /// `f(a, b)` over the broadcast `shape`, reading each argument through its `strides`.
    @inline(__always)
    private static func broadcastMap(
        _ a: Tensor, _ b: Tensor, strides: [[Int]], shape: [Int], deadline: ContinuousClock.Instant?,
        _ f: (Double, Double) -> Double
    ) throws(AutodiffError) -> Tensor {
        let count = Shape.count(shape)
        guard count > 0 else { return Tensor(validShape: shape, data: []) }
        let data = a.data.withUnsafeBufferPointer { a in
            b.data.withUnsafeBufferPointer { b in
                let (pa, pb) = (a.baseAddress.unsafelyUnwrapped, b.baseAddress.unsafelyUnwrapped)
                return filling(count) { out in
                    // Equal shapes, or a single element on one side: one flat loop.
                    if a.count == count || a.count == 1, b.count == count || b.count == 1 {
                        return chunks(count, deadline: deadline) { range in
                            if a.count == count, b.count == count {
                                for i in range { out[i] = f(pa[i], pb[i]) }
                            } else if a.count == count {
                                let v = pb[0]
                                for i in range { out[i] = f(pa[i], v) }
                            } else if b.count == count {
                                let u = pa[0]
                                for i in range { out[i] = f(u, pb[i]) }
                            } else {
                                let (u, v) = (pa[0], pb[0])
                                for i in range { out[i] = f(u, v) }
                            }
                        }
                    }
                    let runs = StridedRuns(shape: shape, strides: strides + [Shape.strides(shape)])
                    let (sa, sb) = (runs.innerStrides[0], runs.innerStrides[1])
                    return runs.forEachRun(deadline: deadline) { offsets, length in
                        let (x, y, z) = (pa + offsets[0], pb + offsets[1], out + offsets[2])
                        if sa == 1, sb == 1 {
                            for j in 0..<length { z[j] = f(x[j], y[j]) }
                        } else if sa == 1, sb == 0 {
                            let v = y[0]
                            for j in 0..<length { z[j] = f(x[j], v) }
                        } else if sa == 0, sb == 1 {
                            let u = x[0]
                            for j in 0..<length { z[j] = f(u, y[j]) }
                        } else {
                            for j in 0..<length { z[j] = f(x[j * sa], y[j * sb]) }
                        }
                    }
                }
            }
        }
        guard let data else { throw deadlineError }
        return Tensor(validShape: shape, data: data)
    }

    /// Applies a binary elementwise op with NumPy broadcasting.
    static func binary(
        _ function: BinaryFunction, _ a: Tensor, _ b: Tensor, strides: [[Int]], shape: [Int],
        deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        switch function {
        case .add: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 + $1 }
        case .sub: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 - $1 }
        case .mul: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 * $1 }
        case .div: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 / $1 }
        case .pow: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { pow($0, $1) }
        case .maximum:
            return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) {
                $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1)
            }
        case .minimum:
            return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) {
                $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1)
            }
        case .gt: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 > $1 ? 1 : 0 }
        case .ge: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 >= $1 ? 1 : 0 }
        case .lt: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 < $1 ? 1 : 0 }
        case .le: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 <= $1 ? 1 : 0 }
        case .eq: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 == $1 ? 1 : 0 }
        case .ne: return try broadcastMap(a, b, strides: strides, shape: shape, deadline: deadline) { $0 != $1 ? 1 : 0 }
        }
    }

    /// `condition != 0 ? x : y` over the broadcast `shape` (`where`).
    static func select(
        _ args: [Tensor], strides: [[Int]], shape: [Int], deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        let count = Shape.count(shape)
        guard count > 0 else { return Tensor(validShape: shape, data: []) }
        let runs = StridedRuns(shape: shape, strides: strides + [Shape.strides(shape)])
        let (s0, s1, s2) = (runs.innerStrides[0], runs.innerStrides[1], runs.innerStrides[2])
        let data = args[0].data.withUnsafeBufferPointer { c in
            args[1].data.withUnsafeBufferPointer { t in
                args[2].data.withUnsafeBufferPointer { e in
                    let pc = c.baseAddress.unsafelyUnwrapped
                    let (pt, pe) = (t.baseAddress.unsafelyUnwrapped, e.baseAddress.unsafelyUnwrapped)
                    return filling(count) { out in
                        runs.forEachRun(deadline: deadline) { o, length in
                            let (c, t, e, z) = (pc + o[0], pt + o[1], pe + o[2], out + o[3])
                            for j in 0..<length { z[j] = c[j * s0] != 0 ? t[j * s1] : e[j * s2] }
                        }
                    }
                }
            }
        }
        guard let data else { throw deadlineError }
        return Tensor(validShape: shape, data: data)
    }

    /// Reads `x` through `strides` into a new tensor of `shape` (broadcast, transpose, slice).
    static func gather(
        _ x: Tensor, strides: [Int], shape: [Int], base: Int = 0, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        let count = Shape.count(shape)
        if count == x.count && strides == Shape.strides(shape) && base == 0 {
            return Tensor(validShape: shape, data: x.data)
        }
        guard count > 0 else { return Tensor(validShape: shape, data: []) }
        let runs = StridedRuns(shape: shape, strides: [strides, Shape.strides(shape)])
        let step = runs.innerStrides[0]
        let data = x.data.withUnsafeBufferPointer { x in
            let source = x.baseAddress.unsafelyUnwrapped + base
            return filling(count) { out in
                runs.forEachRun(deadline: deadline) { o, length in
                    let (from, to) = (source + o[0], out + o[1])
                    switch step {
                    case 1: to.initialize(from: from, count: length)
                    case 0: to.initialize(repeating: from[0], count: length)
                    default: for j in 0..<length { to[j] = from[j * step] }
                    }
                }
            }
        }
        guard let data else { throw deadlineError }
        return Tensor(validShape: shape, data: data)
    }

    // MARK: Reductions

    /// Folds `x` into the result of `reduction` with `combine`, starting from `initial`: each
    /// result element combines its inputs in input order, as a sequential loop does.
    @inline(__always)
    private static func fold(
        _ x: Tensor, _ reduction: Reduction, resultCount: Int, initial: Double, deadline: ContinuousClock.Instant?,
        _ combine: (Double, Double) -> Double
    ) throws(AutodiffError) -> [Double] {
        var result = [Double](repeating: initial, count: resultCount)
        guard x.count > 0 else { return result }
        if resultCount == 1 {
            var accumulator = initial
            let finished = x.data.withUnsafeBufferPointer { x in
                let input = x.baseAddress.unsafelyUnwrapped
                return chunks(x.count, deadline: deadline) { range in
                    for i in range { accumulator = combine(accumulator, input[i]) }
                }
            }
            guard finished else { throw deadlineError }
            result[0] = accumulator
            return result
        }
        let runs = StridedRuns(
            shape: reduction.inputShape, strides: [Shape.strides(reduction.inputShape), reduction.resultStrides])
        let step = runs.innerStrides[1]
        let finished = x.data.withUnsafeBufferPointer { x in
            result.withUnsafeMutableBufferPointer { result in
                let (input, output) = (x.baseAddress.unsafelyUnwrapped, result.baseAddress.unsafelyUnwrapped)
                return runs.forEachRun(deadline: deadline) { o, length in
                    let (from, to) = (input + o[0], output + o[1])
                    if step == 0 {
                        var accumulator = to[0]
                        for j in 0..<length { accumulator = combine(accumulator, from[j]) }
                        to[0] = accumulator
                    } else {
                        for j in 0..<length { to[j * step] = combine(to[j * step], from[j]) }
                    }
                }
            }
        }
        guard finished else { throw deadlineError }
        return result
    }

    /// Applies a reduction op; `shape` is the result's shape (with or without the kept axes).
    static func reduce(
        _ function: ReduceFunction, _ x: Tensor, _ reduction: Reduction, shape: [Int],
        deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        let resultCount = Shape.count(shape)
        guard resultCount > 0 else { return Tensor(validShape: shape, data: []) }
        let data: [Double]
        switch function {
        case .sum:
            data = try fold(x, reduction, resultCount: resultCount, initial: 0, deadline: deadline, +)
        case .mean:
            let count = Double(reduction.count)
            data = try fold(x, reduction, resultCount: resultCount, initial: 0, deadline: deadline, +).map {
                $0 / count
            }
        case .prod:
            data = try fold(x, reduction, resultCount: resultCount, initial: 1, deadline: deadline, *)
        case .max:
            data = try fold(x, reduction, resultCount: resultCount, initial: -.infinity, deadline: deadline) {
                $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1)
            }
        case .min:
            data = try fold(x, reduction, resultCount: resultCount, initial: .infinity, deadline: deadline) {
                $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1)
            }
        case .logsumexp:
            data = try logsumexp(x, reduction, resultCount: resultCount, deadline: deadline)
        }
        return Tensor(validShape: shape, data: data)
    }

    /// `log(Σ exp(x - m)) + m` with `m` the maximum (0 where it is infinite, as PyTorch), so exp
    /// never overflows.
    private static func logsumexp(
        _ x: Tensor, _ reduction: Reduction, resultCount: Int, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> [Double] {
        let maxima = try fold(x, reduction, resultCount: resultCount, initial: -.infinity, deadline: deadline) {
            $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1)
        }.map { $0.isInfinite ? 0 : $0 }
        var sums = [Double](repeating: 0, count: resultCount)
        if x.count > 0 {
            let runs = StridedRuns(
                shape: reduction.inputShape, strides: [Shape.strides(reduction.inputShape), reduction.resultStrides])
            let step = runs.innerStrides[1]
            let finished = x.data.withUnsafeBufferPointer { x in
                maxima.withUnsafeBufferPointer { maxima in
                    sums.withUnsafeMutableBufferPointer { sums in
                        let input = x.baseAddress.unsafelyUnwrapped
                        let shifts = maxima.baseAddress.unsafelyUnwrapped
                        let output = sums.baseAddress.unsafelyUnwrapped
                        return runs.forEachRun(deadline: deadline) { o, length in
                            let (from, shift, to) = (input + o[0], shifts + o[1], output + o[1])
                            if step == 0 {
                                var total = to[0]
                                let m = shift[0]
                                for j in 0..<length { total += exp(from[j] - m) }
                                to[0] = total
                            } else {
                                for j in 0..<length { to[j * step] += exp(from[j] - shift[j * step]) }
                            }
                        }
                    }
                }
            }
            guard finished else { throw deadlineError }
        }
        return zip(sums, maxima).map { log($0) + $1 }
    }

    // MARK: Linear algebra and layout

    /// `torch.matmul` over the batch of `plan` through `BLAS.gemm`, checking `deadline` between
    /// calls; a call covers at most `flopsPerCall` flops (whole rows of the result, at least one).
    static func matmul(
        _ a: Tensor, _ b: Tensor, _ plan: MatmulPlan, shape: [Int], deadline: ContinuousClock.Instant?,
        flopsPerCall: Int = Kernels.flopsPerCall
    ) throws(AutodiffError) -> Tensor {
        let count = Shape.count(shape)
        guard count > 0 else { return Tensor(validShape: shape, data: []) }
        var (batches, m) = (Shape.count(plan.batchShape), plan.m)
        let (k, n) = (plan.k, plan.n)
        var batchShape = plan.batchShape
        // A batch of matrices times one matrix is one taller product.
        if plan.rhsBatchStrides.allSatisfy({ $0 == 0 }), plan.lhsBatchStrides == Shape.strides(plan.batchShape) {
            (batches, m, batchShape) = (1, batches * m, [])
        }
        let rowsPerCall = Swift.max(1, flopsPerCall / Swift.max(1, 2 * k * n))
        let gemmShape = (lda: Swift.max(1, k), ldb: Swift.max(1, n))
        var cursor = StridedCursor(
            shape: batchShape,
            strides: batchShape.isEmpty ? [[], []] : [plan.lhsBatchStrides, plan.rhsBatchStrides])
        // Every element is written by `BLAS.gemm` (β = 0), so the result starts uninitialized.
        let data = a.data.withUnsafeBufferPointer { a in
            b.data.withUnsafeBufferPointer { b in
                filling(count) { c in
                    for batch in 0..<batches {
                        let aBase = cursor.offsets[0] * m * k
                        let bBase = cursor.offsets[1] * k * n
                        for row in stride(from: 0, to: m, by: rowsPerCall) {
                            if isPast(deadline) { return false }
                            let call = GEMM(
                                m: Swift.min(rowsPerCall, m - row), n: n, k: k, transposeA: false, transposeB: false,
                                lda: gemmShape.lda, ldb: gemmShape.ldb, ldc: n)
                            BLAS.gemm(
                                call, a.baseAddress.map { $0 + aBase + row * k }, b.baseAddress.map { $0 + bBase },
                                c + batch * m * n + row * n)
                        }
                        cursor.advance()
                    }
                    return true
                }
            }
        }
        guard let data else { throw deadlineError }
        return Tensor(validShape: shape, data: data)
    }

    static func transpose(
        _ x: Tensor, perm: [Int], shape: [Int], deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        let strides = Shape.strides(x.shape)
        return try gather(x, strides: perm.map { strides[$0] }, shape: shape, deadline: deadline)
    }

    static func concat(_ args: [Tensor], axis: Int, shape: [Int]) -> Tensor {
        let count = Shape.count(shape)
        guard count > 0 else { return Tensor(validShape: shape, data: []) }
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        var data: [Double] = []
        data.reserveCapacity(count)
        for o in 0..<outer {
            for arg in args {
                let block = arg.shape[axis] * inner
                data.append(contentsOf: arg.data[(o * block)..<((o + 1) * block)])
            }
        }
        return Tensor(validShape: shape, data: data)
    }

    static func slice(
        _ x: Tensor, _ plan: SlicePlan, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        try gather(x, strides: plan.strides, shape: plan.sliced, base: plan.offset, deadline: deadline)
    }

    /// Writes `g` into the slice of a zero tensor of the full shape.
    static func unslice(
        _ g: Tensor, _ plan: SlicePlan, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        var data = [Double](repeating: 0, count: Shape.count(plan.full))
        guard g.count > 0 else { return Tensor(validShape: plan.full, data: data) }
        let runs = StridedRuns(shape: plan.sliced, strides: [plan.strides, Shape.strides(plan.sliced)])
        let step = runs.innerStrides[0]
        let finished = g.data.withUnsafeBufferPointer { g in
            data.withUnsafeMutableBufferPointer { out in
                let (source, target) = (g.baseAddress.unsafelyUnwrapped, out.baseAddress.unsafelyUnwrapped + plan.offset)
                return runs.forEachRun(deadline: deadline) { o, length in
                    let (to, from) = (target + o[0], source + o[1])
                    for j in 0..<length { to[j * step] = from[j] }
                }
            }
        }
        guard finished else { throw deadlineError }
        return Tensor(validShape: plan.full, data: data)
    }

    // MARK: Normalization

    /// Softmax (or log-softmax) along the middle axis of `outer × length × inner`, shifted by the
    /// maximum so that logits of ±1000 are fine.
    static func softmax(
        _ x: Tensor, outer: Int, length: Int, inner: Int, logarithm: Bool, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Tensor {
        let count = x.count
        guard count > 0 else { return x }
        let data = x.data.withUnsafeBufferPointer { x in
            let input = x.baseAddress.unsafelyUnwrapped
            return filling(count) { out in
                var sinceCheck = 0
                for o in 0..<outer {
                    for i in 0..<inner {
                        sinceCheck += length
                        if sinceCheck >= elementsPerCheck {
                            if isPast(deadline) { return false }
                            sinceCheck = 0
                        }
                        let (from, to) = (input + o * length * inner + i, out + o * length * inner + i)
                        var maximum = -Double.infinity
                        for j in 0..<length { maximum = Swift.max(maximum, from[j * inner]) }
                        var total = 0.0
                        for j in 0..<length { total += exp(from[j * inner] - maximum) }
                        if logarithm {
                            let logTotal = log(total)
                            for j in 0..<length { to[j * inner] = (from[j * inner] - maximum) - logTotal }
                        } else {
                            for j in 0..<length { to[j * inner] = exp(from[j * inner] - maximum) / total }
                        }
                    }
                }
                return true
            }
        }
        guard let data else { throw deadlineError }
        return Tensor(validShape: x.shape, data: data)
    }
}

// MARK: Kernel selectors

/// The scalar function of a unary elementwise op, with its attributes.
enum UnaryFunction {
    case neg, exp, log, sqrt, sin, cos, tan, tanh, sigmoid, reciprocal, square, log1p, expm1, erf, abs, relu
    case leakyRelu(slope: Double)
    case elu(alpha: Double)
    case gelu(tanhApproximation: Bool)
    case softplus(beta: Double, threshold: Double)
    case clamp(lower: Double?, upper: Double?)
    case sign, floor, ceil, round
}

/// The scalar function of a binary elementwise op.
enum BinaryFunction {
    case add, sub, mul, div, pow, maximum, minimum, gt, ge, lt, le, eq, ne
}

/// A reduction op.
enum ReduceFunction {
    case sum, mean, prod, max, min, logsumexp
}

// MARK: Strided iteration

/// A row-major walk over `shape` for several operands, each read through its own strides, as
/// runs along the innermost axis: axes of size 1 are dropped and adjacent axes along which every
/// operand is contiguous are merged, so the inner loops are as long as they can be and the
/// multi-index bookkeeping is paid once per run, not per element.
struct StridedRuns {
    /// Elements per run, and each operand's stride inside a run.
    let length: Int
    let innerStrides: [Int]
    private let outerShape: [Int]
    /// `outerStrides[operand][axis]`.
    private let outerStrides: [[Int]]

    /// `shape` must have no zero dimension.
    init(shape: [Int], strides: [[Int]]) {
        var dims: [Int] = []
        var merged = [[Int]](repeating: [], count: strides.count)
        for axis in shape.indices where shape[axis] != 1 {
            let contiguous =
                !dims.isEmpty
                && strides.indices.allSatisfy { merged[$0][merged[$0].count - 1] == strides[$0][axis] * shape[axis] }
            if contiguous {
                dims[dims.count - 1] *= shape[axis]
                for operand in strides.indices { merged[operand][merged[operand].count - 1] = strides[operand][axis] }
            } else {
                dims.append(shape[axis])
                for operand in strides.indices { merged[operand].append(strides[operand][axis]) }
            }
        }
        length = dims.last ?? 1
        innerStrides = merged.map { $0.last ?? 0 }
        outerShape = Array(dims.dropLast())
        outerStrides = merged.map { Array($0.dropLast()) }
    }

    /// Calls `body(offsets, count)` for consecutive pieces of the runs in row-major order, where
    /// `offsets` holds each operand's offset of the piece's first element. With a deadline, pieces
    /// hold at most `Kernels.elementsPerCheck` elements and the deadline is checked between them;
    /// returns false (having stopped) when it passed.
    @inline(__always)
    func forEachRun(deadline: ContinuousClock.Instant?, _ body: ([Int], Int) -> Void) -> Bool {
        let operands = innerStrides.count
        let piece = deadline == nil ? length : Swift.min(length, Kernels.elementsPerCheck)
        var index = [Int](repeating: 0, count: outerShape.count)
        var offsets = [Int](repeating: 0, count: operands)
        var pieceOffsets = offsets
        var sinceCheck = 0
        while true {
            var start = 0
            while start < length {
                let count = Swift.min(piece, length - start)
                if deadline != nil {
                    sinceCheck += count
                    if sinceCheck > Kernels.elementsPerCheck {
                        if Kernels.isPast(deadline) { return false }
                        sinceCheck = count
                    }
                }
                for operand in 0..<operands { pieceOffsets[operand] = offsets[operand] + start * innerStrides[operand] }
                body(pieceOffsets, count)
                start += count
            }
            var axis = outerShape.count - 1
            while axis >= 0 {
                index[axis] += 1
                for operand in 0..<operands { offsets[operand] += outerStrides[operand][axis] }
                if index[axis] < outerShape[axis] { break }
                for operand in 0..<operands { offsets[operand] -= outerStrides[operand][axis] * index[axis] }
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { return true }
        }
    }
}
