import Foundation
import Testing

@testable import AutodiffCore

/// Forward values: elementwise ops against libm formulas, layout ops and reductions against
/// hand-computed literals. (The finite-difference checks only prove gradients match the forward.)
@Suite("Forward values")
struct ForwardValueTests {
    struct Unary: Sendable, CustomTestStringConvertible {
        let op: Op
        let attrs: [String: AttributeValue]
        let domain: Domain
        let reference: @Sendable (Double) -> Double
        var testDescription: String { "\(op.rawValue) \(attrs.keys.sorted())" }
    }

    static let unary: [Unary] = [
        Unary(op: .neg, attrs: [:], domain: .any) { -$0 },
        Unary(op: .exp, attrs: [:], domain: .any) { Foundation.exp($0) },
        Unary(op: .log, attrs: [:], domain: .positive) { Foundation.log($0) },
        Unary(op: .sqrt, attrs: [:], domain: .positive) { $0.squareRoot() },
        Unary(op: .sin, attrs: [:], domain: .any) { Foundation.sin($0) },
        Unary(op: .cos, attrs: [:], domain: .any) { Foundation.cos($0) },
        Unary(op: .tan, attrs: [:], domain: .any) { Foundation.tan($0) },
        Unary(op: .tanh, attrs: [:], domain: .any) { Foundation.tanh($0) },
        Unary(op: .sigmoid, attrs: [:], domain: .any) { 1 / (1 + Foundation.exp(-$0)) },
        Unary(op: .reciprocal, attrs: [:], domain: .nonzero) { 1 / $0 },
        Unary(op: .square, attrs: [:], domain: .any) { $0 * $0 },
        Unary(op: .log1p, attrs: [:], domain: Domain(lo: -0.9, hi: 2)) { Foundation.log1p($0) },
        Unary(op: .expm1, attrs: [:], domain: .any) { Foundation.expm1($0) },
        Unary(op: .erf, attrs: [:], domain: .any) { Foundation.erf($0) },
        Unary(op: .abs, attrs: [:], domain: .any) { Swift.abs($0) },
        Unary(op: .relu, attrs: [:], domain: .any) { Swift.max($0, 0) },
        Unary(op: .leakyRelu, attrs: [:], domain: .any) { $0 > 0 ? $0 : 0.01 * $0 },
        Unary(op: .leakyRelu, attrs: ["negative_slope": .number(0.2)], domain: .any) { $0 > 0 ? $0 : 0.2 * $0 },
        Unary(op: .elu, attrs: [:], domain: .any) { $0 > 0 ? $0 : Foundation.expm1($0) },
        Unary(op: .elu, attrs: ["alpha": .number(0.5)], domain: .any) { $0 > 0 ? $0 : 0.5 * Foundation.expm1($0) },
        Unary(op: .gelu, attrs: [:], domain: .any) { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) },
        Unary(op: .gelu, attrs: ["approximate": .string("tanh")], domain: .any) { x in
            0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        },
        Unary(op: .softplus, attrs: [:], domain: Domain(lo: -30, hi: 30)) {
            $0 > 20 ? $0 : Foundation.log1p(Foundation.exp($0))
        },
        Unary(op: .softplus, attrs: ["beta": .number(2), "threshold": .number(1)], domain: .any) {
            2 * $0 > 1 ? $0 : Foundation.log1p(Foundation.exp(2 * $0)) / 2
        },
        Unary(op: .clamp, attrs: ["min": .number(-0.5), "max": .number(0.7)], domain: .any) {
            Swift.min(Swift.max($0, -0.5), 0.7)
        },
        Unary(op: .clamp, attrs: ["min": .number(-0.5)], domain: .any) { Swift.max($0, -0.5) },
        Unary(op: .clamp, attrs: ["max": .number(0.7)], domain: .any) { Swift.min($0, 0.7) },
        Unary(op: .sign, attrs: [:], domain: .offGrid) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) },
        Unary(op: .floor, attrs: [:], domain: .offGrid) { $0.rounded(.down) },
        Unary(op: .ceil, attrs: [:], domain: .offGrid) { $0.rounded(.up) },
        Unary(op: .round, attrs: [:], domain: .offGrid) { $0.rounded(.toNearestOrEven) },
    ]

    @Test("unary ops match their formulas", arguments: unary)
    func unaryForward(_ c: Unary) throws {
        var rng = SplitMix64(label: c.testDescription)
        let x = try Tensor(shape: [4, 5], data: (0..<20).map { _ in c.domain.sample(&rng) })
        let g = try single(c.op, arity: 1, attrs: c.attrs)
        expectClose(
            try g.value(["x0": x]), try Tensor(shape: x.shape, data: x.data.map(c.reference)),
            rtol: 1e-13, atol: 1e-15, c.testDescription)
    }

    static let binary: [(Op, @Sendable (Double, Double) -> Double)] = [
        (.add, +), (.sub, -), (.mul, *), (.div, /), (.pow, { Foundation.pow($0, $1) }),
        (.maximum, { Swift.max($0, $1) }), (.minimum, { Swift.min($0, $1) }),
        (.gt, { $0 > $1 ? 1 : 0 }), (.ge, { $0 >= $1 ? 1 : 0 }), (.lt, { $0 < $1 ? 1 : 0 }),
        (.le, { $0 <= $1 ? 1 : 0 }), (.eq, { $0 == $1 ? 1 : 0 }), (.ne, { $0 != $1 ? 1 : 0 }),
    ]

    @Test("binary ops match their formulas, ties included", arguments: binary.indices)
    func binaryForward(_ index: Int) throws {
        let (op, reference) = Self.binary[index]
        var rng = SplitMix64(label: "binary \(op)")
        // Positive bases for pow; a shared pool of values elsewhere, so comparisons meet ties.
        let lhsDomain: Domain = op == .pow ? .positive : .choices(-1.5, 0, 1, 2.5)
        let a = try Tensor(shape: [3, 4], data: (0..<12).map { _ in lhsDomain.sample(&rng) })
        let b = try Tensor(shape: [3, 4], data: (0..<12).map { _ in Domain.choices(-1.5, 1, 2.5, 0.5).sample(&rng) })
        let g = try single(op, arity: 2)
        expectClose(
            try g.value(["x0": a, "x1": b]), try Tensor(shape: a.shape, data: zip(a.data, b.data).map(reference)),
            rtol: 1e-14, atol: 0, op.rawValue)
    }

    @Test func broadcastingKeepsTheOperandOrder() throws {
        let g = try single(.sub, arity: 2)
        // [2,3] − [3], [2,1] − [1,3], scalar − [2,2]
        expectEqual(
            try g.value(["x0": try matrix([[1, 2, 3], [4, 5, 6]]), "x1": try vector([10, 20, 30])]),
            try matrix([[-9, -18, -27], [-6, -15, -24]]))
        expectEqual(
            try g.value(["x0": try matrix([[1], [2]]), "x1": try matrix([[10, 20, 30]])]),
            try matrix([[-9, -19, -29], [-8, -18, -28]]))
        expectEqual(
            try g.value(["x0": scalar(1), "x1": try matrix([[1, 2], [3, 4]])]), try matrix([[0, -1], [-2, -3]]))
    }

    @Test func comparisonsGiveOneOrZero() throws {
        let x = try vector([1, 2, 3])
        let expected: [(Op, [Double])] = [
            (.gt, [0, 0, 1]), (.ge, [0, 1, 1]), (.lt, [1, 0, 0]), (.le, [1, 1, 0]), (.eq, [0, 1, 0]), (.ne, [1, 0, 1]),
        ]
        for (op, values) in expected {
            let g = try graph(inputs: ["x"], node("y", op, "x", "2"))
            expectEqual(try g.value(["x": x]), try vector(values), "\(op)(x, 2)")
        }
    }

    @Test func whereSelectsByNonzeroCondition() throws {
        let g = try graph(inputs: ["c", "a", "b"], node("y", .where, "c", "a", "b"))
        let y = try g.value(["c": try vector([1, 0, -2, 0.5]), "a": try vector([1, 2, 3, 4]), "b": scalar(9)])
        expectEqual(y, try vector([1, 9, 3, 4]))
    }

    @Test func matmulFollowsTorchShapes() throws {
        let g = try single(.matmul, arity: 2)
        expectEqual(
            try g.value(["x0": try matrix([[1, 2], [3, 4]]), "x1": try matrix([[5, 6], [7, 8]])]),
            try matrix([[19, 22], [43, 50]]))
        expectEqual(try g.value(["x0": try vector([1, 2, 3]), "x1": try vector([4, 5, 6])]), scalar(32))
        expectEqual(
            try g.value(["x0": try vector([1, 2]), "x1": try matrix([[1, 2, 3], [4, 5, 6]])]),
            try vector([9, 12, 15]))
        expectEqual(
            try g.value(["x0": try matrix([[1, 2, 3], [4, 5, 6]]), "x1": try vector([1, 0, -1])]),
            try vector([-2, -2]))
        // [2,1,3,4] @ [5,4,2] → [2,5,3,2]; checked against a naive triple loop.
        var rng = SplitMix64(label: "batched matmul")
        let a = try rng.tensor([2, 1, 3, 4])
        let b = try rng.tensor([5, 4, 2])
        var expected = [Double]()
        for i in 0..<2 {
            for j in 0..<5 {
                for r in 0..<3 {
                    for c in 0..<2 {
                        expected.append(
                            (0..<4).reduce(0) { $0 + a.data[i * 12 + r * 4 + $1] * b.data[j * 8 + $1 * 2 + c] })
                    }
                }
            }
        }
        expectClose(try g.value(["x0": a, "x1": b]), try tensor([2, 5, 3, 2], expected), rtol: 1e-14)
    }

    @Test func layoutOps() throws {
        let m = try matrix([[1, 2, 3], [4, 5, 6]])
        let t = try graph(inputs: ["x"], node("y", .transpose, "x"))
        expectEqual(try t.value(["x": m]), try matrix([[1, 4], [2, 5], [3, 6]]))
        let x = try tensor([2, 3, 4], (0..<24).map(Double.init))
        let p = try graph(inputs: ["x"], node("y", .transpose, "x", attrs: ["perm": .ints([2, 0, 1])]))
        var permuted = [Double]()
        for k in 0..<4 { for i in 0..<2 { for j in 0..<3 { permuted.append(x.data[i * 12 + j * 4 + k]) } } }
        expectEqual(try p.value(["x": x]), try tensor([4, 2, 3], permuted))

        let r = try graph(inputs: ["x"], node("y", .reshape, "x", attrs: ["shape": .ints([3, -1])]))
        expectEqual(try r.value(["x": m]), try tensor([3, 2], [1, 2, 3, 4, 5, 6]))
        let b = try graph(inputs: ["x"], node("y", .broadcastTo, "x", attrs: ["shape": .ints([2, 2])]))
        expectEqual(try b.value(["x": try vector([1, 2])]), try matrix([[1, 2], [1, 2]]))

        let ones = try filled(1, [1, 3, 1])
        let shapes: [(NodeSpec, [Int], [Int])] = [
            (node("y", .squeeze, "x"), [1, 3, 1], [3]),
            (node("y", .squeeze, "x", attrs: ["axes": .ints([-1])]), [1, 3, 1], [1, 3]),
            (node("y", .unsqueeze, "x", attrs: ["axes": .ints([0, -1])]), [2, 3], [1, 2, 3, 1]),
            (node("y", .unsqueeze, "x", attrs: ["axes": .ints([1, 3])]), [2, 3], [2, 1, 3, 1]),
            (node("y", .unsqueeze, "x", attrs: ["axes": .ints([0])]), [], [1]),
        ]
        for (spec, input, output) in shapes {
            let g = try graph(inputs: ["x"], spec)
            let value = input == ones.shape ? ones : try filled(1, input)
            #expect(try g.value(["x": value]).shape == output, "\(spec.op) \(spec.attrs) of \(input)")
        }
    }

    @Test func concatAndSlice() throws {
        let c = try graph(inputs: ["a", "b"], node("y", .concat, "a", "b", attrs: ["axis": .int(-1)]))
        expectEqual(
            try c.value(["a": try matrix([[1], [2]]), "b": try matrix([[3, 4], [5, 6]])]),
            try matrix([[1, 3, 4], [2, 5, 6]]))
        let x = try vector((0..<7).map(Double.init))
        let slices: [([Int], [Int], [Int]?, [Double])] = [
            ([1], [-1], [3], [1, 4]), ([-100], [3], nil, [0, 1, 2]), ([2], [100], nil, [2, 3, 4, 5, 6]),
            ([3], [1], nil, []), ([-2], [7], nil, [5, 6]), ([0], [7], [2], [0, 2, 4, 6]),
        ]
        for (starts, ends, steps, expected) in slices {
            var attrs: [String: AttributeValue] = ["starts": .ints(starts), "ends": .ints(ends)]
            if let steps { attrs["steps"] = .ints(steps) }
            let g = try graph(inputs: ["x"], node("y", .slice, "x", attrs: attrs))
            expectEqual(try g.value(["x": x]), try vector(expected), "slice \(starts):\(ends):\(steps ?? [1])")
        }
        let m = try matrix([[1, 2, 3], [4, 5, 6]])
        let s = try graph(
            inputs: ["x"],
            node("y", .slice, "x", attrs: ["starts": .ints([1]), "ends": .ints([3]), "axes": .ints([-1])]))
        expectEqual(try s.value(["x": m]), try matrix([[2, 3], [5, 6]]))
        let back = try graph(
            inputs: ["x"],
            node(
                "y", .sliceBackward, "x",
                attrs: [
                    "shape": .ints([5]), "starts": .ints([1]), "ends": .ints([4]), "steps": .ints([2]),
                ]))
        expectEqual(try back.value(["x": try vector([7, 8])]), try vector([0, 7, 0, 8, 0]))
    }

    @Test func reductions() throws {
        let m = try matrix([[1, 2, 3], [4, 5, 6]])
        let cases: [(Op, [String: AttributeValue], Tensor)] = [
            (.sum, ["axes": .ints([1])], try vector([6, 15])),
            (.sum, [:], scalar(21)),
            (.mean, ["axes": .ints([0]), "keepdims": .bool(true)], try matrix([[2.5, 3.5, 4.5]])),
            (.prod, [:], scalar(720)),
            (.prod, ["axes": .ints([-2])], try vector([4, 10, 18])),
            (.max, ["axes": .ints([-1])], try vector([3, 6])),
            (.min, ["axes": .ints([1]), "keepdims": .bool(true)], try matrix([[1], [4]])),
            (.max, ["keepdims": .bool(true)], try matrix([[6]])),
        ]
        for (op, attrs, expected) in cases {
            let g = try graph(inputs: ["x"], node("y", op, "x", attrs: attrs))
            expectEqual(try g.value(["x": m]), expected, "\(op) \(attrs)")
        }
        // logsumexp([0, ln 3]) = ln 4; softmax([0, ln 3]) = [1/4, 3/4].
        let x = try vector([0, Foundation.log(3)])
        expectClose(try graph(inputs: ["x"], node("y", .logsumexp, "x")).value(["x": x]), scalar(Foundation.log(4)))
        expectClose(try graph(inputs: ["x"], node("y", .softmax, "x")).value(["x": x]), try vector([0.25, 0.75]))
        expectClose(
            try graph(inputs: ["x"], node("y", .logSoftmax, "x")).value(["x": x]),
            try vector([Foundation.log(0.25), Foundation.log(0.75)]))
    }
}
