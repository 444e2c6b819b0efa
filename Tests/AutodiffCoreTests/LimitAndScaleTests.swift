import Foundation
import Testing

@testable import AutodiffCore

/// Limits refuse work before allocating it; long graphs neither overflow a stack nor need recursion.
@Suite("Limits and scale")
struct LimitAndScaleTests {
    @Test func tooManyNodes() {
        let nodes = (0..<11).map { node("n\($0)", .exp, $0 == 0 ? "x" : "n\($0 - 1)") }
        expectError("limit_exceeded", mentions: ["11", "10"]) {
            _ = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: Limits(maxNodes: 10))
        }
        #expect(throws: Never.self) {
            _ = try Graph(GraphSpec(inputs: ["x"], nodes: Array(nodes.prefix(10))), limits: Limits(maxNodes: 10))
        }
    }

    @Test func hugeBroadcastIsRefusedUpFront() throws {
        // 10¹⁵ elements (8 PB): refused from the shape alone, before any allocation is attempted.
        let g = try graph(
            inputs: ["x"], node("big", .broadcastTo, "x", attrs: ["shape": .ints([100_000, 100_000, 100_000])]),
            node("y", .sum, "big"))
        expectError("limit_exceeded", node: "big") { _ = try g.forward(values: ["x": scalar(1)], outputs: ["y"]) }
        expectError("limit_exceeded", node: "big") {
            _ = try g.backward(values: ["x": scalar(1)], outputs: ["y"], seeds: [:])
        }
        // A shape whose element count overflows Int is refused too, not trapped on.
        let overflow = try graph(
            inputs: ["x"], node("y", .broadcastTo, "x", attrs: ["shape": .ints([1 << 31, 1 << 31, 1 << 31])]))
        expectError("limit_exceeded", "invalid_attribute", node: "y") {
            _ = try overflow.forward(values: ["x": scalar(1)], outputs: ["y"])
        }
        let reshape = try graph(
            inputs: ["x"], node("y", .reshape, "x", attrs: ["shape": .ints([1 << 40, 1 << 40, 0])]))
        expectError("limit_exceeded", "invalid_attribute", node: "y") {
            _ = try reshape.forward(values: ["x": try vector([1])], outputs: ["y"])
        }
    }

    @Test func rankIsBounded() throws {
        // 64 dimensions are fine; a 65th is refused for inputs and for results, naming the node.
        let ones64 = [Int](repeating: 1, count: 64)
        #expect(throws: Never.self) { _ = try Tensor(shape: ones64, data: [1]) }
        expectError("invalid_request", mentions: ["64", "65"]) { _ = try Tensor(shape: ones64 + [1], data: [1]) }
        let deep = try graph(inputs: ["x"], node("y", .reshape, "x", attrs: ["shape": .ints(ones64 + [1])]))
        expectError("limit_exceeded", node: "y", mentions: ["65", "64"]) {
            _ = try deep.forward(values: ["x": scalar(2)], outputs: ["y"])
        }
        let widened = try graph(inputs: ["x"], node("y", .unsqueeze, "x", attrs: ["axes": .ints(Array(0..<100_000))]))
        expectError("limit_exceeded", node: "y") { _ = try widened.forward(values: ["x": scalar(2)], outputs: ["y"]) }
    }

    @Test func hugeSliceStepsPickTheStart() throws {
        // A step of 2⁶² (or 1e308, clamped to it) once overflowed stride × step and trapped.
        let x = try matrix([[1, 2, 3], [4, 5, 6]])
        for axis in [0, 1] {
            let g = try graph(
                inputs: ["x"],
                node("y", .slice, "x", attrs: [
                    "starts": .ints([0]), "ends": .ints([2]), "axes": .ints([axis]), "steps": .ints([1 << 62]),
                ]))
            let expected = axis == 0 ? try matrix([[1, 2, 3]]) : try matrix([[1], [4]])
            expectEqual(try g.value(["x": x]), expected)
            let gradient = axis == 0 ? try matrix([[1, 1, 1], [0, 0, 0]]) : try matrix([[1, 0, 0], [1, 0, 0]])
            expectEqual(try g.gradient(["x": x], wrt: "x"), gradient)
        }
    }

    @Test func elementsPerTensor() throws {
        let limits = Limits(maxElements: 50)
        let g = try graph(inputs: ["x"], node("y", .exp, "x"))
        expectError("limit_exceeded", node: "x", mentions: ["100", "50"]) {
            _ = try g.forward(values: ["x": try filled(1, [10, 10])], outputs: ["y"], limits: limits)
        }
        // An intermediate: the outer product [10,1] @ [1,10] has 100 elements.
        let outer = try graph(inputs: ["a", "b"], node("h", .matmul, "a", "b"), node("y", .sum, "h"))
        expectError("limit_exceeded", node: "h") {
            _ = try outer.forward(
                values: ["a": try filled(1, [10, 1]), "b": try filled(1, [1, 10])], outputs: ["y"], limits: limits)
        }
        // A constant, checked when the graph is built.
        expectError("limit_exceeded", node: "k") {
            _ = try graph(
                inputs: ["x"], constants: ["k": try filled(1, [100])], limits: limits, node("y", .add, "x", "k"))
        }
        // A seed.
        let seed = try graph(inputs: ["x"], node("y", .broadcastTo, "x", attrs: ["shape": .ints([100])]))
        expectError("limit_exceeded") {
            _ = try seed.backward(values: ["x": scalar(1)], outputs: ["y"], seeds: ["y": .ones], limits: limits)
        }
    }

    @Test func bytesPerRun() throws {
        // Four tensors of 100 float64 values each are 3200 bytes; allow 1000.
        let g = try graph(inputs: ["x"], node("a", .exp, "x"), node("b", .sin, "a"), node("y", .cos, "b"))
        let x = try filled(0.5, [100])
        expectError("limit_exceeded") {
            _ = try g.forward(values: ["x": x], outputs: ["y"], limits: Limits(maxBytes: 1000))
        }
        expectError("limit_exceeded") {
            _ = try g.backward(values: ["x": x], outputs: ["y"], seeds: ["y": .ones], limits: Limits(maxBytes: 1000))
        }
        // The same run within a generous limit works.
        #expect(try g.value(["x": x]).shape == [100])
    }

    @Test func workPerRun() throws {
        // A 200×200 by 200×200 product is 8·10⁶ multiply-adds; allow 10⁵.
        let g = try graph(inputs: ["a"], node("y", .matmul, "a", "a"))
        expectError("limit_exceeded") {
            _ = try g.forward(
                values: ["a": try filled(1, [200, 200])], outputs: ["y"], limits: Limits(maxWork: 100_000))
        }
    }

    @Test func jacobianSize() throws {
        // A 1000×1000 Jacobian is 10⁶ elements.
        let g = try graph(inputs: ["x"], node("y", .exp, "x"))
        expectError("limit_exceeded") {
            _ = try g.jacobian(
                values: ["x": try filled(0, [1000])], outputs: ["y"], limits: Limits(maxElements: 100_000))
        }
        // An empty output [0, 2⁶²] with an input [4]: no elements, but the Jacobian's shape [0, 2⁶², 4] has
        // strides that overflow, so it is refused rather than built.
        let wide = try graph(
            inputs: ["x"], node("s", .sum, "x"), node("y", .broadcastTo, "s", attrs: ["shape": .ints([0, 1 << 62])]))
        expectError("limit_exceeded", node: "y") {
            _ = try wide.jacobian(values: ["x": try filled(1, [4])], outputs: ["y"])
        }
        // Ranks add up: a 40-dimensional output with respect to a 40-dimensional input has 80.
        let ones40 = [Int](repeating: 1, count: 40)
        let deep = try graph(inputs: ["x"], node("y", .exp, "x"))
        expectError("limit_exceeded", node: "y") {
            _ = try deep.jacobian(values: ["x": try Tensor(shape: ones40, data: [0])], outputs: ["y"])
        }
    }

    @Test func pastDeadline() throws {
        let g = try graph(inputs: ["x"], node("y", .exp, "x"))
        let past = ContinuousClock.now - .seconds(1)
        expectError("deadline_exceeded") { _ = try g.forward(values: ["x": scalar(0)], outputs: ["y"], deadline: past) }
        expectError("deadline_exceeded") {
            _ = try g.backward(values: ["x": scalar(0)], outputs: ["y"], seeds: [:], deadline: past)
        }
    }

    @Test func deadlineStopsALongRunBetweenNodes() throws {
        // 20 000 products of 16×16 matrices (0.16 GFLOP) take far longer than 1 ms; the run must stop
        // soon after its deadline instead of finishing.
        let n = 20_000
        var nodes = [node("n0", .matmul, "x", "w")]
        for i in 1..<n { nodes.append(node("n\(i)", .matmul, "n\(i - 1)", "w")) }
        let g = try Graph(
            GraphSpec(inputs: ["x"], constants: ["w": try filled(1.0 / 16, [16, 16])], nodes: nodes),
            limits: Self.chainLimits)
        let clock = ContinuousClock()
        let start = clock.now
        expectError("deadline_exceeded") {
            _ = try g.forward(
                values: ["x": try filled(1, [16, 16])], outputs: ["n\(n - 1)"], limits: Self.chainLimits,
                deadline: start + .milliseconds(1))
        }
        #expect(clock.now - start < .seconds(5), "the run went on for \(clock.now - start) after a 1 ms deadline")
    }

    // MARK: Long chains

    static let chainLength = 100_000
    static let chainLimits = Limits(maxNodes: 200_000)

    @Test func hundredThousandNodeChain() throws {
        // y = x·c^n with c = 1.0000001 as n multiplications; nodes listed last-first to exercise ordering.
        let n = Self.chainLength
        var nodes = [node("n0", .mul, "x", "1.0000001")]
        for i in 1..<n { nodes.append(node("n\(i)", .mul, "n\(i - 1)", "1.0000001")) }
        nodes.reverse()
        let g = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: Self.chainLimits)
        let r = try g.backward(
            values: ["x": try vector([2, -1])], outputs: ["n\(n - 1)"], seeds: ["n\(n - 1)": .ones],
            limits: Self.chainLimits)
        let factor = Foundation.pow(1.0000001, Double(n))  // e^0.01 up to rounding
        expectClose(r.gradients["x"], try vector([factor, factor]), rtol: 1e-9)
        expectClose(r.outputs["n\(n - 1)"], try vector([2 * factor, -factor]), rtol: 1e-9)
    }

    @Test func hundredThousandNodeAdditionChainIsExact() throws {
        let n = Self.chainLength
        var nodes = [node("n0", .add, "x", "1")]
        for i in 1..<n { nodes.append(node("n\(i)", .add, "n\(i - 1)", "1")) }
        let g = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: Self.chainLimits)
        let out = "n\(n - 1)"
        let r = try g.backward(values: ["x": scalar(0.5)], outputs: [out], seeds: [:], limits: Self.chainLimits)
        expectEqual(r.outputs[out], scalar(0.5 + Double(n)))
        expectEqual(r.gradients["x"], scalar(1))
    }

    @Test func hundredThousandNodeChainInEveryMode() throws {
        // y = x² + (n − 1): dy/dx = 2x = 6, d²y/dx² = 2 at x = 3, through 10⁵ nodes in each entry point.
        let n = Self.chainLength
        var nodes = [node("n0", .mul, "x", "x")]
        for i in 1..<n { nodes.append(node("n\(i)", .add, "n\(i - 1)", "1")) }
        let g = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: Self.chainLimits)
        let out = "n\(n - 1)"
        let x = ["x": scalar(3)]
        let limits = Self.chainLimits
        expectEqual(
            try g.jvp(values: x, outputs: [out], tangents: ["x": scalar(0.5)], limits: limits).tangents[out], scalar(3))
        expectEqual(try g.jacobian(values: x, outputs: [out], limits: limits).jacobian[out]?["x"], scalar(6))
        let hvp = try g.hvp(values: x, output: out, vectors: ["x": scalar(0.5)], limits: limits)
        expectEqual(hvp.output, scalar(9 + Double(n - 1)))
        expectEqual(hvp.hvp["x"], scalar(1))
        let r = try g.backward(
            values: x, outputs: [out], seeds: [:], options: BackwardOptions(returnGraph: true), limits: limits)
        let returned = try #require(r.backwardGraph)
        let back = try Graph(returned.graph, limits: limits)
        expectEqual(
            try back.value(try #require(returned.outputs["x"]), ["x": scalar(3), "seed:\(out)": scalar(1)]), scalar(6))
    }

    @Test func hundredThousandNodeCycleIsFound() {
        let n = Self.chainLength
        var nodes = [node("n0", .add, "n\(n - 1)", "1")]
        for i in 1..<n { nodes.append(node("n\(i)", .add, "n\(i - 1)", "1")) }
        let error = #expect(throws: AutodiffError.self) {
            _ = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: Self.chainLimits)
        }
        #expect(error?.code == .cycle)
        #expect(error?.node?.hasPrefix("n") == true)
    }
}
