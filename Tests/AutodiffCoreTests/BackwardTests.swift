import Foundation
import Testing

@testable import AutodiffCore

/// Reverse mode as a user calls it: seeds, several outputs, unconnected inputs, exact gradient shapes.
@Suite("Backward")
struct BackwardTests {
    /// y = x·x and s = sum(y).
    var square: Graph {
        get throws { try graph(inputs: ["x"], node("y", .mul, "x", "x"), node("s", .sum, "y")) }
    }

    @Test func foundingExample() throws {
        let x = try vector([1, 2, 3])
        // y = x·x, seed ones → 2x.
        let result = try square.backward(values: ["x": x], outputs: ["y"], seeds: ["y": .ones])
        expectEqual(result.outputs["y"], try vector([1, 4, 9]))
        expectEqual(result.gradients["x"], try vector([2, 4, 6]))
        #expect(result.unconnected.isEmpty)
        // The same as the gradient of sum(y) with its implicit seed of 1…
        let viaSum = try square.backward(values: ["x": x], outputs: ["s"], seeds: [:])
        expectEqual(viaSum.gradients["x"], try vector([2, 4, 6]))
        expectEqual(viaSum.outputs["s"], scalar(14))
        // …and as an explicit seed tensor of ones.
        expectEqual(
            try square.gradient("y", ["x": x], wrt: "x", seed: .tensor(try vector([1, 1, 1]))),
            try vector([2, 4, 6]))
    }

    @Test func vectorOutputNeedsASeed() throws {
        expectError("seed_required", node: "y", mentions: ["[3]", "ones"]) {
            _ = try square.backward(values: ["x": try vector([1, 2, 3])], outputs: ["y"], seeds: [:])
        }
        // A one-element output of any rank may omit its seed.
        let g = try graph(inputs: ["x"], node("y", .mul, "x", "x"))
        let r = try g.backward(values: ["x": try tensor([1, 1], [3])], outputs: ["y"], seeds: [:])
        expectEqual(r.gradients["x"], try tensor([1, 1], [6]))
        // An empty output (zero elements) is not one element: it needs a seed too.
        expectError("seed_required", node: "y") {
            _ = try g.backward(values: ["x": try tensor([0], [])], outputs: ["y"], seeds: [:])
        }
    }

    @Test func seedShapeMustMatch() throws {
        let x = try vector([1, 2, 3])
        for bad in [try vector([1, 1]), try matrix([[1, 1, 1]]), scalar(1)] {
            expectError("seed_shape_mismatch", node: "y", mentions: ["[3]", "\(bad.shape)"]) {
                _ = try square.backward(values: ["x": x], outputs: ["y"], seeds: ["y": .tensor(bad)])
            }
        }
        // Even a scalar output takes only a scalar seed.
        expectError("seed_shape_mismatch", node: "s") {
            _ = try square.backward(values: ["x": x], outputs: ["s"], seeds: ["s": .tensor(try vector([1]))])
        }
    }

    @Test func seedsOfSeveralOutputsSum() throws {
        // y = x·x (seed v), s = sum(y) (seed 1), z = 3x (seed w): gradient 2x⊙v + 2x + 3w.
        let g = try graph(inputs: ["x"], node("y", .mul, "x", "x"), node("s", .sum, "y"), node("z", .mul, "x", "3"))
        let x = try vector([1, -2, 0.5])
        let v = try vector([1, 0.5, -1])
        let w = try vector([0, 1, 2])
        let r = try g.backward(values: ["x": x], outputs: ["y", "s", "z"], seeds: ["y": .tensor(v), "z": .tensor(w)])
        expectEqual(r.gradients["x"], try vector([2 + 2 + 0, -2 - 4 + 3, -1 + 1 + 6]))
        expectEqual(r.outputs["z"], try vector([3, -6, 1.5]))
        #expect(r.outputs.keys.sorted() == ["s", "y", "z"])
    }

    @Test func unconnectedInputsGetZerosAndAreReported() throws {
        let g = try graph(inputs: ["a", "b", "c"], node("y", .mul, "a", "2"), node("u", .exp, "c"))
        let values = ["a": try vector([1, 2]), "b": try matrix([[1, 2, 3], [4, 5, 6]]), "c": scalar(0)]
        let r = try g.backward(values: values, outputs: ["y"], seeds: ["y": .ones])
        expectEqual(r.gradients["a"], try vector([2, 2]))
        expectEqual(r.gradients["b"], try filled(0, [2, 3]))
        expectEqual(r.gradients["c"], scalar(0))
        #expect(r.unconnected == ["b", "c"])
        // Only the requested inputs are returned, and unconnected keeps `wrt` order.
        let some = try g.backward(values: values, outputs: ["y"], seeds: ["y": .ones], wrt: ["c", "a", "b"])
        #expect(some.unconnected == ["c", "b"])
        let one = try g.backward(values: values, outputs: ["y"], seeds: ["y": .ones], wrt: ["a"])
        #expect(one.gradients.keys.sorted() == ["a"])
        #expect(one.unconnected.isEmpty)
    }

    @Test func wideFanOutAccumulates() throws {
        // y = Σᵢ i·x for i < 2000, as 2000 products and a chain of sums: dy/dx = Σ i = 1 999 000.
        var nodes = (0..<2000).map { node("m\($0)", .mul, "x", "\($0)") }
        for i in 1..<2000 { nodes.append(node("s\(i)", .add, i == 1 ? "m0" : "s\(i - 1)", "m\(i)")) }
        let g = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: Limits(maxNodes: 5000))
        expectEqual(try g.gradient("s1999", ["x": try vector([1, -2])], wrt: "x"), try vector([1_999_000, 1_999_000]))
    }

    @Test func aZeroGradientIsNotUnconnected() throws {
        // y = x·0 depends on x (gradient 0 but connected); relu of negatives likewise.
        let g = try graph(inputs: ["x"], node("y", .mul, "x", "0"))
        let r = try g.backward(values: ["x": try vector([1, 2])], outputs: ["y"], seeds: ["y": .ones])
        expectEqual(r.gradients["x"], try vector([0, 0]))
        #expect(r.unconnected.isEmpty)
    }

    @Test func zeroGradientOpsConnectButComparisonsDoNot() throws {
        // As in PyTorch: sign/floor/ceil/round have a (zero) gradient, so x is connected; comparisons and
        // where's condition produce no differentiable path (torch: the result does not require grad).
        let x = try vector([-1, 2])
        for op in [Op.sign, .floor, .ceil, .round] {
            let r = try graph(inputs: ["x"], node("y", op, "x")).backward(
                values: ["x": x], outputs: ["y"], seeds: ["y": .ones])
            expectEqual(r.gradients["x"], try vector([0, 0]), "\(op)")
            #expect(r.unconnected.isEmpty, "\(op): x is connected")
        }
        for spec in [node("y", .gt, "x", "0"), node("y", .eq, "x", "x"), node("y", .where, "x", "1", "2")] {
            let r = try graph(inputs: ["x"], spec).backward(values: ["x": x], outputs: ["y"], seeds: ["y": .ones])
            expectEqual(r.gradients["x"], try vector([0, 0]), "\(spec.op)")
            #expect(r.unconnected == ["x"], "\(spec.op): only a non-differentiable path")
        }
    }

    @Test func broadcastGradientsHaveTheInputShape() throws {
        let g = try single(.add, arity: 2)
        let layouts: [([Int], [Int])] = [
            ([2, 3], [3]), ([2, 1], [1, 3]), ([], [2, 3]), ([2, 1, 3], [4, 1]), ([1, 1], [2, 2]),
        ]
        for (a, b) in layouts {
            let grads = try g.gradients(["x0": try filled(1, a), "x1": try filled(1, b)])
            let out = try #require(Shape.broadcast(a, b))
            // Each element of an input feeds (output count / input count) output elements.
            expectEqual(grads["x0"], try filled(Double(elementCount(out) / elementCount(a)), a), "\(a) + \(b): lhs")
            expectEqual(grads["x1"], try filled(Double(elementCount(out) / elementCount(b)), b), "\(a) + \(b): rhs")
        }
    }

    @Test func outputsMayNameInputsAndConstants() throws {
        let g = try graph(inputs: ["x", "w"], constants: ["k": try vector([5, 6])], node("y", .mul, "x", "k"))
        let x = try vector([1, 2])
        let w = scalar(3)
        // An input as an output: its gradient is the seed itself.
        let direct = try g.backward(
            values: ["x": x, "w": w], outputs: ["x"], seeds: ["x": .tensor(try vector([7, 8]))])
        expectEqual(direct.outputs["x"], x)
        expectEqual(direct.gradients["x"], try vector([7, 8]))
        #expect(direct.unconnected == ["w"])
        // A constant as an output: nothing depends on an input.
        let constant = try g.backward(values: ["x": x, "w": w], outputs: ["k"], seeds: ["k": .ones])
        expectEqual(constant.outputs["k"], try vector([5, 6]))
        expectEqual(constant.gradients["x"], try vector([0, 0]))
        #expect(constant.unconnected == ["x", "w"])
        // Constants are never differentiated; the product rule uses them as fixed.
        expectEqual(try g.gradient(["x": x, "w": w], wrt: "x"), try vector([5, 6]))
        expectError("invalid_request", node: "k") {
            _ = try g.backward(values: ["x": x, "w": w], outputs: ["y"], seeds: ["y": .ones], wrt: ["k"])
        }
    }

    @Test func nodesInAnyOrderAndLiteralArguments() throws {
        // Listed consumers first; literal 0.5 as an argument.
        let g = try graph(inputs: ["x"], node("loss", .sum, "h"), node("h", .mul, "t", "0.5"), node("t", .tanh, "x"))
        let x = try vector([0.3, -1.2])
        let grad = try g.gradient("loss", ["x": x], wrt: "x")
        let t = x.data.map { Foundation.tanh($0) }
        expectClose(grad, try vector(t.map { 0.5 * (1 - $0 * $0) }), rtol: 1e-14)
    }

    @Test func emptyTensorsFlowThrough() throws {
        let g = try graph(inputs: ["x", "w"], node("h", .matmul, "x", "w"), node("y", .sum, "h"))
        let r = try g.backward(
            values: ["x": try tensor([0, 3], []), "w": try filled(1, [3, 2])],
            outputs: ["y"], seeds: [:])
        expectEqual(r.outputs["y"], scalar(0))
        expectEqual(r.gradients["x"], try tensor([0, 3], []))
        expectEqual(r.gradients["w"], try filled(0, [3, 2]))
        // Broadcasting with a 0-size dimension: [0,3] + [3] → [0,3]; [2,0] * [2,1] → [2,0].
        let add = try single(.add, arity: 2)
        let grads = try add.gradients(["x0": try tensor([0, 3], []), "x1": try vector([1, 2, 3])])
        expectEqual(grads["x0"], try tensor([0, 3], []))
        expectEqual(grads["x1"], try vector([0, 0, 0]))
        let mul = try single(.mul, arity: 2)
        expectEqual(
            try mul.gradients(["x0": try tensor([2, 0], []), "x1": try matrix([[1], [2]])])["x1"],
            try matrix([[0], [0]]))
        expectError("shape_mismatch", node: "y") {
            _ = try add.value(["x0": try tensor([0], []), "x1": try vector([1, 2])])
        }
    }
}
