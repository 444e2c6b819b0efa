import CBLASShim

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loops over tensor data in raw buffers. Inputs are validated; each kernel writes its result into
/// a given output buffer (which never overlaps its inputs) and allocates no memory per element.
/// Hot loops run with the op chosen outside the loop, and every kernel returns at once when its
/// result is empty.
///
/// Long kernels check `deadline` every `elementsPerCheck` elements (or `flopsPerCall` flops of a
/// matrix product) and return false, having stopped, when it has passed.
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

    /// The fewest elements of an elementwise loop whose second half an idle worker takes
    /// (`eachChunk`): a pass over 2 MB of each operand, long enough to be worth waking a worker.
    static let sharedElements = 1 << 18

    /// `chunks` for a `body` whose elements are independent of each other (each written from its
    /// own inputs only): with `sharedElements` or more, the second half of each span of `0..<count`
    /// goes to an idle worker if there is one (`WorkSharing.shareHalves`), and is done here
    /// otherwise. Every element is computed as it would be in one loop, so the values do not depend
    /// on who computes them.
    @inline(__always)
    private static func eachChunk(
        _ count: Int, deadline: ContinuousClock.Instant?, _ body: (Range<Int>) -> Void
    ) -> Bool {
        guard count >= sharedElements else { return chunks(count, deadline: deadline, body) }
        return WorkSharing.shareHalves(of: count, deadline: deadline) { range, _ in
            let start = range.lowerBound
            return chunks(range.count, deadline: deadline) { chunk in
                body((start + chunk.lowerBound)..<(start + chunk.upperBound))
            }
        }
    }

    /// Writes `value` to the `count` elements at `out`, the second half on an idle worker when
    /// there are `sharedElements` or more (a seed of ones for a big output).
    static func fill(_ out: UnsafeMutablePointer<Double>, with value: Double, count: Int) {
        _ = eachChunk(count, deadline: nil) { range in
            (out + range.lowerBound).initialize(repeating: value, count: range.count)
        }
    }

    // MARK: Unary elementwise

    /// `f(x)` for every element, `elementsPerCheck` at a time.
    @inline(__always)
    private static func map(
        _ x: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>, count: Int,
        deadline: ContinuousClock.Instant?, _ f: (Double) -> Double
    ) -> Bool {
        eachChunk(count, deadline: deadline) { range in
            for i in range { out[i] = f(x[i]) }
        }
    }

    /// Applies a unary elementwise op to `count` elements, matching PyTorch's CPU kernels value for value.
    static func unary(
        _ function: UnaryFunction, _ x: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, count: Int,
        deadline: ContinuousClock.Instant?
    ) -> Bool {
        switch function {
        case .neg: return map(x, out, count: count, deadline: deadline) { -$0 }
        case .exp: return map(x, out, count: count, deadline: deadline) { exp($0) }
        case .log: return map(x, out, count: count, deadline: deadline) { log($0) }
        case .sqrt: return map(x, out, count: count, deadline: deadline) { $0.squareRoot() }
        case .sin: return map(x, out, count: count, deadline: deadline) { sin($0) }
        case .cos: return map(x, out, count: count, deadline: deadline) { cos($0) }
        case .tan: return map(x, out, count: count, deadline: deadline) { tan($0) }
        case .tanh: return map(x, out, count: count, deadline: deadline) { tanh($0) }
        case .sigmoid: return map(x, out, count: count, deadline: deadline) { 1 / (1 + exp(-$0)) }
        case .reciprocal: return map(x, out, count: count, deadline: deadline) { 1 / $0 }
        case .square: return map(x, out, count: count, deadline: deadline) { $0 * $0 }
        case .log1p: return map(x, out, count: count, deadline: deadline) { log1p($0) }
        case .expm1: return map(x, out, count: count, deadline: deadline) { expm1($0) }
        case .erf: return map(x, out, count: count, deadline: deadline) { erf($0) }
        case .abs: return map(x, out, count: count, deadline: deadline) { Swift.abs($0) }
        case .relu: return map(x, out, count: count, deadline: deadline) { $0 < 0 ? 0 : $0 }
        case .leakyRelu(let slope): return map(x, out, count: count, deadline: deadline) { $0 > 0 ? $0 : $0 * slope }
        case .elu(let alpha):
            return map(x, out, count: count, deadline: deadline) { $0 > 0 ? $0 : alpha * expm1($0) }
        case .gelu(tanhApproximation: true):
            return map(x, out, count: count, deadline: deadline) { x in
                0.5 * x * (1 + tanh(GeluConstants.sqrt2OverPi * (x + GeluConstants.kappa * x * x * x)))
            }
        case .gelu(tanhApproximation: false):
            return map(x, out, count: count, deadline: deadline) { x in
                x * 0.5 * (1 + erf(x * GeluConstants.sqrtHalf))
            }
        case .softplus(let beta, let threshold):
            return map(x, out, count: count, deadline: deadline) { x in
                x * beta > threshold ? x : log1p(exp(x * beta)) / beta
            }
        case .clamp(let lower, let upper):
            return map(x, out, count: count, deadline: deadline) { x in
                var y = x
                if let lower, y < lower { y = lower }
                if let upper, y > upper { y = upper }
                return y
            }
        case .sign: return map(x, out, count: count, deadline: deadline) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case .floor: return map(x, out, count: count, deadline: deadline) { $0.rounded(.down) }
        case .ceil: return map(x, out, count: count, deadline: deadline) { $0.rounded(.up) }
        case .round: return map(x, out, count: count, deadline: deadline) { $0.rounded(.toNearestOrEven) }
        }
    }

    /// `sin` and `cos` of every element at once, each bit for bit what `unary(.sin)` and
    /// `unary(.cos)` give (glibc's `sincos` runs their code).
    static func sinCos(
        _ x: UnsafePointer<Double>, sines: UnsafeMutablePointer<Double>, cosines: UnsafeMutablePointer<Double>,
        count: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        eachChunk(count, deadline: deadline) { range in
            autodiff_sincos(x + range.lowerBound, sines + range.lowerBound, cosines + range.lowerBound, range.count)
        }
    }

    // MARK: Elementwise with broadcasting

    /// `f(a, b)` over the broadcast `shape` (`count` elements), reading each argument (of `aCount`
    /// and `bCount` elements) through its `strides`.
    @inline(__always)
    private static func broadcastMap(
        _ pa: UnsafePointer<Double>, _ aCount: Int, _ pb: UnsafePointer<Double>, _ bCount: Int, strides: [[Int]],
        shape: [Int], into out: UnsafeMutablePointer<Double>, count: Int, deadline: ContinuousClock.Instant?,
        _ f: (Double, Double) -> Double
    ) -> Bool {
        guard count > 0 else { return true }
        // Equal shapes, or a single element on one side: one flat loop.
        if aCount == count || aCount == 1, bCount == count || bCount == 1 {
            return eachChunk(count, deadline: deadline) { range in
                if aCount == count, bCount == count {
                    for i in range { out[i] = f(pa[i], pb[i]) }
                } else if aCount == count {
                    let v = pb[0]
                    for i in range { out[i] = f(pa[i], v) }
                } else if bCount == count {
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

    /// Applies a binary elementwise op with NumPy broadcasting.
    static func binary(
        _ function: BinaryFunction, _ a: UnsafePointer<Double>, count aCount: Int, _ b: UnsafePointer<Double>,
        count bCount: Int, strides: [[Int]], shape: [Int], into out: UnsafeMutablePointer<Double>, count: Int,
        deadline: ContinuousClock.Instant?
    ) -> Bool {
        @inline(__always)
        func apply(_ f: (Double, Double) -> Double) -> Bool {
            broadcastMap(
                a, aCount, b, bCount, strides: strides, shape: shape, into: out, count: count, deadline: deadline, f)
        }
        switch function {
        case .add: return apply { $0 + $1 }
        case .sub: return apply { $0 - $1 }
        case .mul: return apply { $0 * $1 }
        case .div: return apply { $0 / $1 }
        case .pow: return apply { pow($0, $1) }
        case .maximum: return apply { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .minimum: return apply { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        case .gt: return apply { $0 > $1 ? 1 : 0 }
        case .ge: return apply { $0 >= $1 ? 1 : 0 }
        case .lt: return apply { $0 < $1 ? 1 : 0 }
        case .le: return apply { $0 <= $1 ? 1 : 0 }
        case .eq: return apply { $0 == $1 ? 1 : 0 }
        case .ne: return apply { $0 != $1 ? 1 : 0 }
        }
    }

    /// `condition != 0 ? x : y` over the broadcast `shape` (`where`).
    static func select(
        _ pc: UnsafePointer<Double>, _ pt: UnsafePointer<Double>, _ pe: UnsafePointer<Double>, strides: [[Int]],
        shape: [Int], into out: UnsafeMutablePointer<Double>, count: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        guard count > 0 else { return true }
        let runs = StridedRuns(shape: shape, strides: strides + [Shape.strides(shape)])
        let (s0, s1, s2) = (runs.innerStrides[0], runs.innerStrides[1], runs.innerStrides[2])
        return runs.forEachRun(deadline: deadline) { o, length in
            let (c, t, e, z) = (pc + o[0], pt + o[1], pe + o[2], out + o[3])
            for j in 0..<length { z[j] = c[j * s0] != 0 ? t[j * s1] : e[j * s2] }
        }
    }

    /// Reads `x` from `base` through `strides` into `out`, laid out as `shape` (broadcast,
    /// transpose, slice).
    static func gather(
        _ x: UnsafePointer<Double>, strides: [Int], shape: [Int], base: Int = 0, into out: UnsafeMutablePointer<Double>,
        count: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        guard count > 0 else { return true }
        let runs = StridedRuns(shape: shape, strides: [strides, Shape.strides(shape)])
        let step = runs.innerStrides[0]
        let source = x + base
        return runs.forEachRun(deadline: deadline) { o, length in
            let (from, to) = (source + o[0], out + o[1])
            switch step {
            case 1: to.initialize(from: from, count: length)
            case 0: to.initialize(repeating: from[0], count: length)
            default: for j in 0..<length { to[j] = from[j * step] }
            }
        }
    }

    /// `count` elements of `x` as they are (a layout change that keeps the order).
    static func copy(_ x: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, count: Int) {
        guard count > 0 else { return }
        out.update(from: x, count: count)
    }

    // MARK: Reductions

    /// Folds `x` (of `inputCount` elements) into `out`, the `resultCount` elements of `reduction`,
    /// with `combine`, starting from `initial`: each result element combines its inputs in input
    /// order, as a sequential loop does.
    @inline(__always)
    private static func fold(
        _ x: UnsafePointer<Double>, inputCount: Int, _ reduction: Reduction, into out: UnsafeMutablePointer<Double>,
        resultCount: Int, initial: Double, deadline: ContinuousClock.Instant?, _ combine: (Double, Double) -> Double
    ) -> Bool {
        out.update(repeating: initial, count: resultCount)
        guard inputCount > 0 else { return true }
        if resultCount == 1 {
            var accumulator = initial
            let finished = chunks(inputCount, deadline: deadline) { range in
                for i in range { accumulator = combine(accumulator, x[i]) }
            }
            out[0] = accumulator
            return finished
        }
        let runs = StridedRuns(
            shape: reduction.inputShape, strides: [Shape.strides(reduction.inputShape), reduction.resultStrides])
        let step = runs.innerStrides[1]
        return runs.forEachRun(deadline: deadline) { o, length in
            let (from, to) = (x + o[0], out + o[1])
            if step == 0 {
                var accumulator = to[0]
                for j in 0..<length { accumulator = combine(accumulator, from[j]) }
                to[0] = accumulator
            } else {
                for j in 0..<length { to[j * step] = combine(to[j * step], from[j]) }
            }
        }
    }

    /// Applies a reduction op to `x` (of `inputCount` elements) into the `count` elements of its result.
    static func reduce(
        _ function: ReduceFunction, _ x: UnsafePointer<Double>, inputCount: Int, _ reduction: Reduction,
        into out: UnsafeMutablePointer<Double>, count: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        guard count > 0 else { return true }
        @inline(__always)
        func fold(initial: Double, _ combine: (Double, Double) -> Double) -> Bool {
            Kernels.fold(
                x, inputCount: inputCount, reduction, into: out, resultCount: count, initial: initial,
                deadline: deadline, combine)
        }
        switch function {
        case .sum:
            return fold(initial: 0, +)
        case .mean:
            guard fold(initial: 0, +) else { return false }
            let reduced = Double(reduction.count)
            for i in 0..<count { out[i] = out[i] / reduced }
            return true
        case .prod:
            return fold(initial: 1, *)
        case .max:
            return fold(initial: -.infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .min:
            return fold(initial: .infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        case .logsumexp:
            return logsumexp(x, inputCount: inputCount, reduction, into: out, count: count, deadline: deadline)
        }
    }

    /// `log(Σ exp(x - m)) + m` with `m` the maximum (0 where it is infinite, as PyTorch), so exp
    /// never overflows.
    private static func logsumexp(
        _ x: UnsafePointer<Double>, inputCount: Int, _ reduction: Reduction, into out: UnsafeMutablePointer<Double>,
        count: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        var finished = true
        let maxima = [Double](unsafeUninitializedCapacity: count) { maxima, initialized in
            let shifts = maxima.baseAddress.unsafelyUnwrapped
            finished = fold(
                x, inputCount: inputCount, reduction, into: shifts, resultCount: count, initial: -.infinity,
                deadline: deadline
            ) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
            for i in 0..<count where shifts[i].isInfinite { shifts[i] = 0 }
            initialized = count
        }
        guard finished else { return false }
        out.update(repeating: 0, count: count)
        if inputCount > 0 {
            let runs = StridedRuns(
                shape: reduction.inputShape, strides: [Shape.strides(reduction.inputShape), reduction.resultStrides])
            let step = runs.innerStrides[1]
            finished = maxima.withUnsafeBufferPointer { maxima in
                let shifts = maxima.baseAddress.unsafelyUnwrapped
                return runs.forEachRun(deadline: deadline) { o, length in
                    let (from, shift, to) = (x + o[0], shifts + o[1], out + o[1])
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
            guard finished else { return false }
        }
        for i in 0..<count { out[i] = log(out[i]) + maxima[i] }
        return true
    }

    // MARK: Linear algebra and layout

    /// `torch.matmul` over the batch of `plan` through `BLAS.gemm` (β = 0: every element of `out`
    /// is written), checking `deadline` between calls; a call covers at most `flopsPerCall` flops
    /// (whole rows of the result, at least one). With `transposeA` (`transposeB`) each matrix of
    /// `a` (`b`) is stored transposed, as the swap of its last two axes would have given it.
    static func matmul(
        _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ plan: MatmulPlan, transposeA: Bool = false,
        transposeB: Bool = false, into out: UnsafeMutablePointer<Double>, count: Int,
        deadline: ContinuousClock.Instant?, flopsPerCall: Int = Kernels.flopsPerCall
    ) -> Bool {
        guard count > 0 else { return true }
        var (batches, m) = (Shape.count(plan.batchShape), plan.m)
        let (k, n) = (plan.k, plan.n)
        var batchShape = plan.batchShape
        // A batch of matrices times one matrix is one taller product (when the rows of `a` follow
        // each other in memory).
        if !transposeA, plan.rhsBatchStrides.allSatisfy({ $0 == 0 }),
            plan.lhsBatchStrides == Shape.strides(plan.batchShape)
        {
            (batches, m, batchShape) = (1, batches * m, [])
        }
        let rowsPerCall = Swift.max(1, flopsPerCall / Swift.max(1, 2 * k * n))
        let lda = Swift.max(1, transposeA ? m : k)
        let ldb = Swift.max(1, transposeB ? k : n)
        var cursor = StridedCursor(
            shape: batchShape,
            strides: batchShape.isEmpty ? [[], []] : [plan.lhsBatchStrides, plan.rhsBatchStrides])
        for batch in 0..<batches {
            let aBase = cursor.offsets[0] * m * k
            let bBase = cursor.offsets[1] * k * n
            for row in stride(from: 0, to: m, by: rowsPerCall) {
                if isPast(deadline) { return false }
                let call = GEMM(
                    m: Swift.min(rowsPerCall, m - row), n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                    lda: lda, ldb: ldb, ldc: n)
                // Row `row` of op(a) starts `row` rows into `a`, or `row` columns when stored transposed.
                BLAS.gemm(call, a + aBase + (transposeA ? row : row * k), b + bBase, out + batch * m * n + row * n)
            }
            cursor.advance()
        }
        return true
    }

    /// `matmul` on tensors, into a new tensor of `shape`.
    static func matmul(
        _ a: Tensor, _ b: Tensor, _ plan: MatmulPlan, shape: [Int], deadline: ContinuousClock.Instant?,
        flopsPerCall: Int = Kernels.flopsPerCall
    ) throws(AutodiffError) -> Tensor {
        let count = Shape.count(shape)
        var finished = true
        let data = a.data.withUnsafeBufferPointer { a in
            b.data.withUnsafeBufferPointer { b in
                [Double](unsafeUninitializedCapacity: count) { out, initialized in
                    if let pa = a.baseAddress, let pb = b.baseAddress, let out = out.baseAddress {
                        finished = matmul(
                            pa, pb, plan, into: out, count: count, deadline: deadline, flopsPerCall: flopsPerCall)
                    } else if let out = out.baseAddress {
                        out.initialize(repeating: 0, count: count)
                    }
                    initialized = finished ? count : 0
                }
            }
        }
        guard finished else { throw deadlineError }
        return Tensor(validShape: shape, data: data)
    }

    /// The arguments laid end to end along `axis`: per index before the axis, a block of
    /// `blocks[i]` elements from each argument `i` (its extent along the axis times the inner size),
    /// read at `argument(i)`.
    static func concat(
        _ argument: (Int) -> UnsafePointer<Double>, blocks: [Int], outer: Int, into out: UnsafeMutablePointer<Double>,
        count: Int
    ) {
        guard count > 0 else { return }
        var to = out
        for o in 0..<outer {
            for (operand, block) in blocks.enumerated() {
                to.update(from: argument(operand) + o * block, count: block)
                to += block
            }
        }
    }

    /// Writes `g` (of `inputCount` elements) into the slice of zeros of the full shape (`count` elements).
    static func unslice(
        _ g: UnsafePointer<Double>, inputCount: Int, _ plan: SlicePlan, into out: UnsafeMutablePointer<Double>,
        count: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        out.update(repeating: 0, count: count)
        guard inputCount > 0 else { return true }
        let runs = StridedRuns(shape: plan.sliced, strides: [plan.strides, Shape.strides(plan.sliced)])
        let step = runs.innerStrides[0]
        let target = out + plan.offset
        return runs.forEachRun(deadline: deadline) { o, length in
            let (to, from) = (target + o[0], g + o[1])
            for j in 0..<length { to[j * step] = from[j] }
        }
    }

    // MARK: Normalization

    /// Softmax (or log-softmax) along the middle axis of `outer × length × inner`, shifted by the
    /// maximum so that logits of ±1000 are fine.
    static func softmax(
        _ input: UnsafePointer<Double>, outer: Int, length: Int, inner: Int, logarithm: Bool,
        into out: UnsafeMutablePointer<Double>, count: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        guard count > 0 else { return true }
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
