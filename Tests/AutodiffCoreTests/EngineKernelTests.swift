import Foundation
import Testing

@testable import AutodiffCore

/// The engine's kernels against plain reference loops: matrix products (OpenBLAS or the built-in
/// kernel) within rounding of the triple loop, every elementwise, reduction and softmax kernel bit
/// for bit equal to the straightforward per-element formulation it replaced (NaN, ±inf and -0
/// included), and deadlines honoured inside long kernels.
@Suite("Engine kernels")
struct EngineKernelTests {
    // MARK: Helpers

    /// Evaluates `op` on `args` through its plan, as `Program.run` does.
    static func evaluate(
        _ op: Op, _ args: [Tensor], attrs: [String: AttributeValue] = [:], deadline: ContinuousClock.Instant? = nil,
        limits: Limits = Limits()
    ) throws -> Tensor {
        let attributes = try Attributes(validating: attrs, op: op, node: "n")
        let plan = try op.plan(node: "n", attrs: attributes, args: args.map(\.shape), limits: limits)
        return try op.evaluate(args, plan: plan, attrs: attributes, deadline: deadline)
    }

    /// Values that break careless kernels, mixed with ordinary ones.
    static let specials: [Double] = [
        .nan, .infinity, -.infinity, 0, -0.0, 1, -1, 0.5, -0.5, 1e300, -1e300, .leastNonzeroMagnitude,
        -Double.leastNormalMagnitude / 4, 20, -20, 710, -745, 3.0, 1e-8,
    ]

    static func values(_ count: Int, _ random: inout SplitMix64) -> [Double] {
        (0..<count).map { _ in
            random.uniform(0, 1) < 0.3
                ? specials[Int(random.next() % UInt64(specials.count))] : random.uniform(-4, 4)
        }
    }

    static func sameBits(_ got: Tensor, _ expected: Tensor) -> Bool {
        got.shape == expected.shape
            && zip(got.data, expected.data).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    /// A random shape of rank 0...4 with small dimensions, sometimes 0 or 1.
    static func shape(_ random: inout SplitMix64, maxRank: Int = 4) -> [Int] {
        let dims = [0, 1, 1, 2, 3, 4, 5]
        let rank = Int(random.next() % UInt64(maxRank + 1))
        return (0..<rank).map { _ in dims[Int(random.next() % UInt64(dims.count))] }
    }

    /// `shape` with some dimensions set to 1 and some leading ones dropped (broadcasts to `shape`).
    static func broadcastable(to shape: [Int], _ random: inout SplitMix64) -> [Int] {
        let dropped = Int(random.next() % UInt64(shape.count + 1))
        return shape.dropFirst(dropped).map { random.uniform(0, 1) < 0.35 ? 1 : $0 }
    }

    // MARK: Matrix products

    /// `torch.matmul` by the textbook loop, with its absolute-value bound for rounding.
    static func referenceMatmul(_ a: Tensor, _ b: Tensor) -> (value: [Double], bound: [Double], shape: [Int]) {
        let lhs = a.rank == 1 ? [1] + a.shape : a.shape
        let rhs = b.rank == 1 ? b.shape + [1] : b.shape
        let (m, k, n) = (lhs[lhs.count - 2], lhs[lhs.count - 1], rhs[rhs.count - 1])
        let (aBatch, bBatch) = (Array(lhs.dropLast(2)), Array(rhs.dropLast(2)))
        let batch = Shape.broadcast(aBatch, bBatch) ?? []
        var shape = batch
        if a.rank > 1 { shape.append(m) }
        if b.rank > 1 { shape.append(n) }
        let batches = Shape.count(batch)
        var value = [Double](repeating: 0, count: batches * m * n)
        var bound = value
        var cursor = StridedCursor(
            shape: batch,
            strides: [Shape.broadcastStrides(aBatch, to: batch), Shape.broadcastStrides(bBatch, to: batch)])
        for index in 0..<batches {
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    var magnitude = 0.0
                    for p in 0..<k {
                        let product = a.data[cursor.offsets[0] * m * k + i * k + p]
                            * b.data[cursor.offsets[1] * k * n + p * n + j]
                        sum += product
                        magnitude += Swift.abs(product)
                    }
                    value[index * m * n + i * n + j] = sum
                    bound[index * m * n + i * n + j] = magnitude
                }
            }
            cursor.advance()
        }
        return (value, bound, shape)
    }

    static func expectMatmul(_ a: Tensor, _ b: Tensor, flopsPerCall: Int = Kernels.flopsPerCall) throws {
        let attributes = Attributes()
        let plan = try Op.matmul.plan(node: "n", attrs: attributes, args: [a.shape, b.shape], limits: Limits())
        guard case .matmul(let matmul) = plan.layout else {
            Issue.record("matmul planned as \(plan.layout)")
            return
        }
        let got = try Kernels.matmul(a, b, matmul, shape: plan.shape, deadline: nil, flopsPerCall: flopsPerCall)
        let expected = referenceMatmul(a, b)
        #expect(got.shape == expected.shape, "\(a.shape) · \(b.shape)")
        for (index, value) in got.data.enumerated() {
            let error = Swift.abs(value - expected.value[index])
            guard error <= 1e-12 * expected.bound[index] else {
                Issue.record("\(a.shape) · \(b.shape) [\(index)]: \(value), expected \(expected.value[index])")
                return
            }
        }
    }

    @Test("matmul equals the triple loop on random shapes: empty, 1-sized, 1-D, batched and broadcast")
    func matmulRandomShapes() throws {
        var random = SplitMix64(label: "matmul shapes")
        let sizes = [0, 1, 2, 3, 7, 16, 17, 33, 64, 65]
        func pick() -> Int { sizes[Int(random.next() % UInt64(sizes.count))] }
        for _ in 0..<300 {
            let (m, k, n) = (pick(), pick(), pick())
            let batch = Self.shape(&random, maxRank: 2).map { Swift.min($0, 3) }
            var lhs = Self.broadcastable(to: batch, &random) + [m, k]
            var rhs = Self.broadcastable(to: batch, &random) + [k, n]
            if random.uniform(0, 1) < 0.15 { lhs = [k] }
            if random.uniform(0, 1) < 0.15 { rhs = [k] }
            try Self.expectMatmul(try random.tensor(lhs), try random.tensor(rhs))
        }
    }

    @Test("matmul split into row chunks (a long product between deadline checks) gives the same result")
    func matmulChunks() throws {
        var random = SplitMix64(label: "matmul chunks")
        for (lhs, rhs) in [([2, 37, 20], [20, 9]), ([3, 1, 5, 8], [8, 6]), ([11, 7], [7, 13]), ([5], [2, 5, 4])] {
            try Self.expectMatmul(try random.tensor(lhs), try random.tensor(rhs), flopsPerCall: 100)
        }
    }

    @Test("Engine.multiply with transposes equals the triple loop on the transposed data")
    func multiplyTransposed() throws {
        var random = SplitMix64(label: "multiply transposed")
        for (m, k, n) in [(0, 3, 2), (3, 0, 2), (1, 1, 1), (5, 7, 3), (64, 33, 10), (17, 65, 64)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = try random.tensor(ta ? [k, m] : [m, k])
                let b = try random.tensor(tb ? [n, k] : [k, n])
                let plainA = ta ? try Self.evaluate(.transpose, [a]) : a
                let plainB = tb ? try Self.evaluate(.transpose, [b]) : b
                let got = try Engine.multiply(a, b, transposingA: ta, transposingB: tb)
                let expected = Self.referenceMatmul(plainA, plainB)
                #expect(got.shape == [m, n])
                for (index, value) in got.data.enumerated() {
                    #expect(Swift.abs(value - expected.value[index]) <= 1e-12 * expected.bound[index])
                }
            }
        }
    }

    @Test("the built-in kernel (used when OpenBLAS cannot be loaded) equals the triple loop, transposes included")
    func builtInKernel() throws {
        var random = SplitMix64(label: "built-in kernel")
        for (m, k, n) in [(1, 1, 1), (3, 0, 2), (5, 7, 3), (17, 65, 300), (64, 33, 10)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = try random.tensor(ta ? [k, m] : [m, k])
                let b = try random.tensor(tb ? [n, k] : [k, n])
                let expected = Self.referenceMatmul(
                    ta ? try Self.evaluate(.transpose, [a]) : a, tb ? try Self.evaluate(.transpose, [b]) : b)
                var c = [Double](repeating: .nan, count: m * n)
                let call = GEMM(
                    m: m, n: n, k: k, transposeA: ta, transposeB: tb, lda: Swift.max(1, a.shape[1]),
                    ldb: Swift.max(1, b.shape[1]), ldc: n)
                a.data.withUnsafeBufferPointer { a in
                    b.data.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { c in
                            BLAS.blockedGemm(
                                call, a.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                b.baseAddress ?? UnsafePointer(bitPattern: 8)!, c.baseAddress!)
                        }
                    }
                }
                for (index, value) in c.enumerated() {
                    #expect(Swift.abs(value - expected.value[index]) <= 1e-12 * expected.bound[index], "\(m) \(k) \(n)")
                }
            }
        }
    }

    @Test("the engine says which matrix kernel it uses")
    func description() {
        let text = Engine.blasDescription
        if let core = Engine.blasCore {
            #expect(text.contains("OpenBLAS") && text.contains(core))
        } else {
            #expect(text.contains("built-in"))
        }
    }

    // MARK: Elementwise, bit for bit

    /// The per-element formulas of every unary op, as the kernels computed them before.
    static func referenceUnary(_ op: Op, _ attrs: [String: AttributeValue]) -> ((Double) -> Double)? {
        func number(_ name: String) -> Double? {
            if case .number(let x) = attrs[name] { x } else { nil }
        }
        switch op {
        case .neg: return { -$0 }
        case .exp: return { Foundation.exp($0) }
        case .log: return { Foundation.log($0) }
        case .sqrt: return { $0.squareRoot() }
        case .sin: return { Foundation.sin($0) }
        case .cos: return { Foundation.cos($0) }
        case .tan: return { Foundation.tan($0) }
        case .tanh: return { Foundation.tanh($0) }
        case .sigmoid: return { 1 / (1 + Foundation.exp(-$0)) }
        case .reciprocal: return { 1 / $0 }
        case .square: return { $0 * $0 }
        case .log1p: return { Foundation.log1p($0) }
        case .expm1: return { Foundation.expm1($0) }
        case .erf: return { Foundation.erf($0) }
        case .abs: return { Swift.abs($0) }
        case .relu: return { $0 < 0 ? 0 : $0 }
        case .leakyRelu:
            let slope = number("negative_slope") ?? 0.01
            return { $0 > 0 ? $0 : $0 * slope }
        case .elu:
            let alpha = number("alpha") ?? 1
            return { $0 > 0 ? $0 : alpha * Foundation.expm1($0) }
        case .gelu:
            if attrs["approximate"] == .string("tanh") {
                return { x in
                    0.5 * x * (1 + Foundation.tanh(GeluConstants.sqrt2OverPi * (x + GeluConstants.kappa * x * x * x)))
                }
            }
            return { x in x * 0.5 * (1 + Foundation.erf(x * GeluConstants.sqrtHalf)) }
        case .softplus:
            let beta = number("beta") ?? 1
            let threshold = number("threshold") ?? 20
            return { x in x * beta > threshold ? x : Foundation.log1p(Foundation.exp(x * beta)) / beta }
        case .clamp:
            let (lower, upper) = (number("min"), number("max"))
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
        default: return nil
        }
    }

    static let unaryCases: [(Op, [String: AttributeValue])] =
        Op.allCases.filter { referenceUnary($0, [:]) != nil && $0 != .clamp }.map { ($0, [:]) } + [
            (.leakyRelu, ["negative_slope": .number(0.2)]), (.elu, ["alpha": .number(0.5)]),
            (.gelu, ["approximate": .string("tanh")]), (.softplus, ["beta": .number(2), "threshold": .number(5)]),
            (.clamp, ["min": .number(-0.5), "max": .number(0.5)]), (.clamp, ["min": .number(0)]),
            (.clamp, ["max": .number(-1)]),
        ]

    @Test("unary kernels are bit-identical to the per-element formulas", arguments: 0..<unaryCases.count)
    func unaryBits(_ index: Int) throws {
        let (op, attrs) = Self.unaryCases[index]
        let reference = try #require(Self.referenceUnary(op, attrs))
        var random = SplitMix64(label: "unary \(index)")
        for shape in [[0], [1], [3, 0, 5], [4099], [7, 9]] {
            let x = try Tensor(shape: shape, data: Self.values(elementCount(shape), &random))
            let got = try Self.evaluate(op, [x], attrs: attrs)
            #expect(Self.sameBits(got, try Tensor(shape: shape, data: x.data.map(reference))), "\(op) \(shape)")
        }
    }

    static let binaryReferences: [(Op, @Sendable (Double, Double) -> Double)] = [
        (.add, { $0 + $1 }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }), (.div, { $0 / $1 }),
        (.pow, { Foundation.pow($0, $1) }),
        (.maximum, { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }),
        (.minimum, { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }),
        (.gt, { $0 > $1 ? 1 : 0 }), (.ge, { $0 >= $1 ? 1 : 0 }), (.lt, { $0 < $1 ? 1 : 0 }),
        (.le, { $0 <= $1 ? 1 : 0 }), (.eq, { $0 == $1 ? 1 : 0 }), (.ne, { $0 != $1 ? 1 : 0 }),
    ]

    /// Each argument's element for every output position, walked with the multi-index cursor.
    static func broadcastReference(_ args: [Tensor], _ f: ([Double]) -> Double) -> Tensor {
        var shape: [Int] = []
        for arg in args { shape = Shape.broadcast(shape, arg.shape) ?? [] }
        var cursor = StridedCursor(shape: shape, strides: args.map { Shape.broadcastStrides($0.shape, to: shape) })
        var data: [Double] = []
        for _ in 0..<Shape.count(shape) {
            data.append(f(args.indices.map { args[$0].data[cursor.offsets[$0]] }))
            cursor.advance()
        }
        return Tensor(validShape: shape, data: data)
    }

    @Test("sin and cos computed together equal sin and cos computed apart, bit for bit")
    func sinCosTogether() throws {
        var random = SplitMix64(label: "sincos")
        // Any bit pattern, [-10, 10), and magnitudes 2^-60 to 2^20 (tiny, and huge arguments that
        // need the long range reduction), plus the specials.
        var x = Self.specials
        for i in 0..<300_000 {
            let bits = random.next()
            switch i % 3 {
            case 0: x.append(Double(bitPattern: bits))
            case 1: x.append(random.uniform(-10, 10))
            default:
                let magnitude = Double(sign: .plus, exponent: Int(bits % 80) - 60, significand: random.uniform(1, 2))
                x.append(bits & 1 == 0 ? magnitude : -magnitude)
            }
        }
        var sines = [Double](repeating: 0, count: x.count)
        var cosines = sines
        let finished = x.withUnsafeBufferPointer { x in
            sines.withUnsafeMutableBufferPointer { sines in
                cosines.withUnsafeMutableBufferPointer { cosines in
                    Kernels.sinCos(
                        x.baseAddress!, sines: sines.baseAddress!, cosines: cosines.baseAddress!, count: x.count,
                        deadline: nil)
                }
            }
        }
        #expect(finished)
        let sinApart = try Self.evaluate(.sin, [try vector(x)])
        let cosApart = try Self.evaluate(.cos, [try vector(x)])
        #expect(sines.map(\.bitPattern) == sinApart.data.map(\.bitPattern))
        #expect(cosines.map(\.bitPattern) == cosApart.data.map(\.bitPattern))
    }

    @Test("binary kernels broadcast bit-identically to the per-element loop", arguments: 0..<binaryReferences.count)
    func binaryBits(_ index: Int) throws {
        let (op, f) = Self.binaryReferences[index]
        var random = SplitMix64(label: "binary \(op)")
        for _ in 0..<60 {
            let out = Self.shape(&random)
            let shapes = [Self.broadcastable(to: out, &random), Self.broadcastable(to: out, &random)]
            let args = try shapes.map { try Tensor(shape: $0, data: Self.values(elementCount($0), &random)) }
            let got = try Self.evaluate(op, args)
            #expect(Self.sameBits(got, Self.broadcastReference(args) { f($0[0], $0[1]) }), "\(op) \(shapes)")
        }
    }

    @Test("where, broadcast_to, transpose and slice read the same elements as the cursor walk")
    func selectionAndLayout() throws {
        var random = SplitMix64(label: "selection")
        for _ in 0..<80 {
            let out = Self.shape(&random)
            let shapes = (0..<3).map { _ in Self.broadcastable(to: out, &random) }
            let args = try shapes.map { try Tensor(shape: $0, data: Self.values(elementCount($0), &random)) }
            let got = try Self.evaluate(.where, args)
            #expect(Self.sameBits(got, Self.broadcastReference(args) { $0[0] != 0 ? $0[1] : $0[2] }), "\(shapes)")

            let x = args[0]
            let shaped = try Tensor(shape: out, data: Self.values(Shape.count(out), &random))
            let target = Self.broadcastReference([x, shaped]) { $0[0] }
            let broadcast = try Self.evaluate(.broadcastTo, [x], attrs: ["shape": .ints(out)])
            #expect(Self.sameBits(broadcast, target))

            let perm = Array(0..<out.count).shuffled(using: &random)
            let transposed = try Self.evaluate(.transpose, [target], attrs: ["perm": .ints(perm)])
            let strides = Shape.strides(out)
            var cursor = StridedCursor(shape: perm.map { out[$0] }, strides: [perm.map { strides[$0] }])
            var expected: [Double] = []
            for _ in 0..<target.count {
                expected.append(target.data[cursor.offsets[0]])
                cursor.advance()
            }
            #expect(Self.sameBits(transposed, Tensor(validShape: perm.map { out[$0] }, data: expected)))
        }
    }

    @Test("slice and its adjoint place every element where the index arithmetic says")
    func sliceRoundTrip() throws {
        var random = SplitMix64(label: "slice")
        let x = try random.tensor([4, 5, 6])
        let attrs: [String: AttributeValue] = [
            "starts": .ints([1, 0, -5]), "ends": .ints([4, 5, 6]), "axes": .ints([0, 1, 2]), "steps": .ints([2, 3, 2]),
        ]
        let sliced = try Self.evaluate(.slice, [x], attrs: attrs)
        #expect(sliced.shape == [2, 2, 3])
        var expected: [Double] = []
        for i in [1, 3] { for j in [0, 3] { for k in [1, 3, 5] { expected.append(x.data[i * 30 + j * 6 + k]) } } }
        #expect(sliced.data == expected)
        var backAttrs = attrs
        backAttrs["shape"] = .ints([4, 5, 6])
        let placed = try Self.evaluate(.sliceBackward, [sliced], attrs: backAttrs)
        var zeros = [Double](repeating: 0, count: 120)
        var position = 0
        for i in [1, 3] {
            for j in [0, 3] {
                for k in [1, 3, 5] {
                    zeros[i * 30 + j * 6 + k] = expected[position]
                    position += 1
                }
            }
        }
        #expect(placed.data == zeros)
    }

    // MARK: Reductions and softmax, bit for bit

    /// The reduction as the sequential loop folded it: every input in order into its result.
    static func referenceReduce(_ op: Op, _ x: Tensor, axes: [Int]) -> [Double] {
        let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let resultStrides = Shape.broadcastStrides(kept, to: x.shape)
        let count = Shape.count(kept)
        func fold(_ initial: Double, _ combine: (Double, Double) -> Double) -> [Double] {
            var result = [Double](repeating: initial, count: count)
            var cursor = StridedCursor(shape: x.shape, strides: [resultStrides])
            for value in x.data {
                result[cursor.offsets[0]] = combine(result[cursor.offsets[0]], value)
                cursor.advance()
            }
            return result
        }
        let nanMax: (Double, Double) -> Double = { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        switch op {
        case .sum: return fold(0, +)
        case .mean:
            let n = Double(axes.reduce(1) { $0 * x.shape[$1] })
            return fold(0, +).map { $0 / n }
        case .prod: return fold(1, *)
        case .max: return fold(-.infinity, nanMax)
        case .min: return fold(.infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        default:
            let maxima = fold(-.infinity, nanMax).map { $0.isInfinite ? 0 : $0 }
            var sums = [Double](repeating: 0, count: count)
            var cursor = StridedCursor(shape: x.shape, strides: [resultStrides])
            for value in x.data {
                sums[cursor.offsets[0]] += Foundation.exp(value - maxima[cursor.offsets[0]])
                cursor.advance()
            }
            return zip(sums, maxima).map { Foundation.log($0) + $1 }
        }
    }

    @Test(
        "reductions fold bit-identically to the sequential loop",
        arguments: [Op.sum, .mean, .prod, .max, .min, .logsumexp])
    func reductionBits(_ op: Op) throws {
        var random = SplitMix64(label: "reduce \(op)")
        var checked = 0
        for _ in 0..<120 {
            let shape = Self.shape(&random)
            let axes = shape.indices.filter { _ in random.uniform(0, 1) < 0.5 }
            let reduced = axes.isEmpty ? Array(shape.indices) : axes
            if op == .max || op == .min, reduced.contains(where: { shape[$0] == 0 }) { continue }
            let x = try Tensor(shape: shape, data: Self.values(elementCount(shape), &random))
            let got = try Self.evaluate(op, [x], attrs: axes.isEmpty ? [:] : ["axes": .ints(axes)])
            let expected = Self.referenceReduce(op, x, axes: reduced)
            #expect(Self.sameBits(got, Tensor(validShape: got.shape, data: expected)), "\(op) \(shape) axes \(axes)")
            checked += 1
        }
        let long = try Tensor(shape: [3, 5000], data: Self.values(15_000, &random))
        for axes in [[0], [1], [0, 1]] {
            let got = try Self.evaluate(op, [long], attrs: ["axes": .ints(axes)])
            #expect(Self.sameBits(got, Tensor(validShape: got.shape, data: Self.referenceReduce(op, long, axes: axes))))
        }
        #expect(checked > 60)
    }

    @Test("softmax and log_softmax are bit-identical to the indexed loop", arguments: [Op.softmax, .logSoftmax])
    func softmaxBits(_ op: Op) throws {
        var random = SplitMix64(label: "softmax \(op)")
        for _ in 0..<60 {
            let shape = Self.shape(&random)
            let x = try Tensor(shape: shape, data: Self.values(elementCount(shape), &random))
            let axis = shape.isEmpty ? 0 : Int(random.next() % UInt64(shape.count))
            let got = try Self.evaluate(op, [x], attrs: ["axis": .int(axis)])
            let outer = shape.isEmpty ? 1 : shape[..<axis].reduce(1, *)
            let length = shape.isEmpty ? 1 : shape[axis]
            let inner = shape.isEmpty ? 1 : shape[(axis + 1)...].reduce(1, *)
            var data = x.data
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * length * inner + i
                    var maximum = -Double.infinity
                    for j in 0..<length { maximum = Swift.max(maximum, x.data[base + j * inner]) }
                    var total = 0.0
                    for j in 0..<length { total += Foundation.exp(x.data[base + j * inner] - maximum) }
                    let logTotal = Foundation.log(total)
                    for j in 0..<length {
                        let shifted = x.data[base + j * inner] - maximum
                        data[base + j * inner] =
                            op == .logSoftmax ? shifted - logTotal : Foundation.exp(shifted) / total
                    }
                }
            }
            #expect(Self.sameBits(got, Tensor(validShape: shape, data: data)), "\(op) \(shape) axis \(axis)")
        }
    }

    // MARK: Empty tensors with huge other dimensions

    @Test("kernels return at once for empty results whose other dimensions are huge")
    func emptyWithHugeDimensions() throws {
        // Plans refuse such tensors under any element limit (their loops are counted); without one,
        // the kernels themselves must still not loop over the empty iteration space.
        let limits = Limits(maxElements: .max)
        let huge = 1 << 30
        let empty = try Tensor(shape: [huge, 0, huge], data: [])
        #expect(try Self.evaluate(.sin, [empty], limits: limits).shape == [huge, 0, huge])
        #expect(try Self.evaluate(.add, [empty, empty], limits: limits).count == 0)
        #expect(try Self.evaluate(.sum, [empty], attrs: ["axes": .ints([0, 2])], limits: limits).shape == [0])
        #expect(try Self.evaluate(.softmax, [empty], limits: limits).count == 0)
        #expect(try Self.evaluate(.transpose, [empty], limits: limits).shape == [huge, 0, huge])
        let lhs = try Tensor(shape: [huge, 0, 3], data: [])
        #expect(try Self.evaluate(.matmul, [lhs, try Tensor(shape: [3, 2], data: Array(repeating: 1, count: 6))],
            limits: limits).shape == [huge, 0, 2])
    }

    // MARK: Deadlines

    @Test("a deadline in the past stops a big matrix product, a long elementwise op and a long reduction")
    func pastDeadline() throws {
        var random = SplitMix64(label: "deadline")
        let past = ContinuousClock.now - .seconds(1)
        let a = try random.tensor([512, 512])
        expectError("deadline_exceeded") { _ = try Self.evaluate(.matmul, [a, a], deadline: past) }
        let long = try random.tensor([3 << 20])
        expectError("deadline_exceeded") { _ = try Self.evaluate(.sin, [long], deadline: past) }
        expectError("deadline_exceeded") { _ = try Self.evaluate(.add, [long, long], deadline: past) }
        expectError("deadline_exceeded") { _ = try Self.evaluate(.sum, [long], deadline: past) }
        let future = ContinuousClock.now + .seconds(3600)
        #expect(try Self.evaluate(.sum, [long], deadline: future).count == 1)
    }
}
