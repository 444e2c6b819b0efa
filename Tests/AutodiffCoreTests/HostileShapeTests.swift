import Testing

@testable import AutodiffCore

/// Requests that once trapped (killing every call in flight) or pinned a worker: empty tensors with
/// huge dimensions, shape arithmetic at the edge of `Int`, out-of-range attributes, long name
/// lists, and calls whose cost lay in rows, seeds or the response rather than in the nodes.
/// Each must end in a result or a contract error, and before its deadline.
@Suite("Hostile shapes and costs")
struct HostileShapeTests {
    /// A generous deadline: a call that is refused or finished long before it passes, while one
    /// that loops over 10¹² empty steps would run into it and fail the test.
    static func deadline() -> ContinuousClock.Instant { .now + .seconds(20) }

    /// No limit but what the arithmetic itself must catch.
    static let unbounded = Limits(
        maxNodes: .max, maxElements: .max, maxBytes: .max, maxWork: .max, maxNames: .max, maxArgs: .max)

    // MARK: Empty tensors with huge dimensions

    @Test func concatOfHugeEmptyTensorsIsRefused() throws {
        // Two broadcasts to [0, 2⁶²] joined on axis 1: the joined axis overflows Int.
        let g = try graph(
            inputs: ["x"],
            node("a", .broadcastTo, "x", attrs: ["shape": .ints([0, 1 << 62])]),
            node("b", .broadcastTo, "x", attrs: ["shape": .ints([0, 1 << 62])]),
            node("y", .concat, "a", "b", attrs: ["axis": .int(1)]))
        let x = try filled(1, [1, 1])
        for limits in [Limits(), Self.unbounded] {
            expectError("limit_exceeded") {
                _ = try g.forward(values: ["x": x], outputs: ["y"], limits: limits, deadline: Self.deadline())
            }
            expectError("limit_exceeded") {
                _ = try g.backward(
                    values: ["x": x], outputs: ["y"], seeds: ["y": .ones], limits: limits, deadline: Self.deadline())
            }
        }
    }

    @Test func sliceOfAHugeEmptyTensorNeverOverflowsItsOffsets() throws {
        // [0, 14197294936951, 649657] holds no element, but a start at the end of its second axis is
        // 14197294936951 · 649657 ≈ 2⁶³ elements in: that offset once overflowed in the kernel.
        let shape = [0, 14_197_294_936_951, 649_657]
        let g = try graph(
            inputs: ["x"],
            node("e", .broadcastTo, "x", attrs: ["shape": .ints(shape)]),
            node("y", .slice, "e", attrs: ["starts": .ints([0, 0, 0]), "ends": .array(Array(repeating: .number(1e18), count: 3))]),
            node("z", .slice, "e", attrs: [
                "starts": .array(Array(repeating: .number(1e18), count: 3)),
                "ends": .array(Array(repeating: .number(1e19), count: 3)),
            ]))
        // Within the default limits the empty tensor's loops are too long to start.
        expectError("limit_exceeded", node: "e") {
            _ = try g.forward(values: ["x": scalar(1)], outputs: ["y"], deadline: Self.deadline())
        }
        // With no limits, the slices of an empty tensor are empty and their gradients too.
        for output in ["y", "z"] {
            let result = try g.backward(
                values: ["x": scalar(1)], outputs: [output], seeds: [output: .ones], limits: Self.unbounded,
                deadline: Self.deadline())
            #expect(result.outputs[output]?.count == 0)
            expectEqual(result.gradients["x"], scalar(0))
        }
    }

    @Test(arguments: [Op.softmax, .logSoftmax, .sum, .logsumexp, .exp, .transpose, .concat])
    func emptyTensorWithAHugeOuterDimensionIsRefused(op: Op) throws {
        // [2⁴⁰, 0] has no element but 2⁴⁰ steps of outer loop; such a tensor is refused like a full one.
        let g = try graph(
            inputs: ["x"], node("e", .broadcastTo, "x", attrs: ["shape": .ints([1 << 40, 0])]), node("y", op, "e"))
        expectError("limit_exceeded", node: "e") {
            _ = try g.backward(
                values: ["x": scalar(1)], outputs: ["y"], seeds: ["y": .ones], deadline: Self.deadline())
        }
        // And so is such an input.
        let direct = try graph(inputs: ["x"], node("y", op, "x"))
        expectError("limit_exceeded", node: "x") {
            _ = try direct.forward(
                values: ["x": try Tensor(shape: [1 << 40, 0], data: [])], outputs: ["y"], deadline: Self.deadline())
        }
    }

    @Test func matmulOfHugeEmptyBatchesIsRefused() throws {
        let g = try graph(
            inputs: ["a", "b"],
            node("e", .broadcastTo, "a", attrs: ["shape": .ints([1 << 20, 1 << 20, 1, 0])]),
            node("y", .matmul, "e", "b"))
        expectError("limit_exceeded", node: "e") {
            _ = try g.forward(
                values: ["a": scalar(1), "b": try filled(1, [0, 3])], outputs: ["y"], deadline: Self.deadline())
        }
    }

    @Test func emptyTensorsWithinTheLimitsStillWork() throws {
        // Empty shapes are part of the contract; only their loop lengths are bounded.
        let g = try graph(
            inputs: ["x"], node("y", .concat, "x", "x", attrs: ["axis": .int(1)]), node("s", .sum, "y"))
        let x = try Tensor(shape: [1000, 0], data: [])
        let result = try g.backward(values: ["x": x], outputs: ["s"], seeds: [:], deadline: Self.deadline())
        expectEqual(result.outputs["s"], scalar(0))
        #expect(result.gradients["x"]?.shape == [1000, 0])
    }

    // MARK: Attributes are refused, never silently changed

    @Test(arguments: [9.223372036854775807e18, 1e19, -1e19, 0x1p62 + 0x1p11])
    func outOfRangeShapesAreRefused(value: Double) throws {
        expectError("invalid_attribute", node: "y", mentions: ["shape"]) {
            _ = try graph(
                inputs: ["x"], node("y", .broadcastTo, "x", attrs: ["shape": .array([.number(0), .number(value)])]))
        }
    }

    @Test func sliceIndicesStillClampToTheEnd() throws {
        // ONNX's "to the end" is INT64_MAX; 1e19 and beyond mean the same.
        for end in [9.223372036854775807e18, 1e19, 1e300] {
            let g = try graph(
                inputs: ["x"], node("y", .slice, "x", attrs: ["starts": .ints([1]), "ends": .array([.number(end)])]))
            expectEqual(try g.value(["x": try vector([1, 2, 3])]), try vector([2, 3]))
        }
    }

    // MARK: Rows, seeds and results are costed before anything runs

    @Test func batchedSeedsWithAHugeEmptyBatchAreRefused() throws {
        // Seeds [2⁴⁰, 0]: no element, but 2⁴⁰ rows, each needing a gradient of x's shape.
        let g = try graph(inputs: ["x"], node("y", .slice, "x", attrs: ["starts": .ints([0]), "ends": .ints([0])]))
        let seed = try Tensor(shape: [1 << 40, 0], data: [])
        expectError("limit_exceeded") {
            _ = try g.backward(
                values: ["x": try vector([1, 2])], outputs: ["y"], seeds: ["y": .tensor(seed)],
                options: BackwardOptions(batched: true), deadline: Self.deadline())
        }
    }

    @Test func implicitSeedsAreCostedBeforeTheyAreBuilt() throws {
        // Found by the fuzzer: with no element limit, the seed of ones for a [2⁴⁰] output (8 TB) was
        // allocated before the call's bytes were checked. Backward and jvp build such seeds.
        var limits = Limits(maxBytes: 1 << 22)
        limits.maxElements = .max
        let g = try graph(inputs: ["x"], node("y", .broadcastTo, "x", attrs: ["shape": .ints([1 << 40])]))
        expectError("limit_exceeded", node: "y", mentions: ["seed"]) {
            _ = try g.backward(values: ["x": scalar(1)], outputs: ["y"], seeds: ["y": .ones], limits: limits)
        }
        expectError("limit_exceeded") {
            _ = try g.jvp(values: ["x": scalar(1)], outputs: ["y"], tangents: ["x": scalar(1)], limits: limits)
        }
    }

    @Test func unconnectedJacobianRowsCostNothing() throws {
        // 10⁶ outputs that do not depend on w: its Jacobian column is zeros, with no row evaluated.
        let g = try graph(inputs: ["x", "w"], node("y", .exp, "x"))
        let result = try g.jacobian(
            values: ["x": try filled(0, [1_000_000]), "w": scalar(1)], outputs: ["y"], wrt: ["w"],
            deadline: Self.deadline())
        #expect(result.jacobian["y"]?["w"]?.shape == [1_000_000])
        #expect(result.jacobian["y"]?["w"]?.data.allSatisfy { $0 == 0 } == true)
    }

    @Test func jacobianRowsPayForTheirSeeds() throws {
        // y = x with 10⁵ elements: 10⁵ rows, each building a 10⁵-element basis seed (10¹⁰ steps),
        // although the Jacobian itself (10¹⁰ elements) is already over the element limit; with that
        // limit lifted, the seeds alone go over the work limit.
        let g = try graph(inputs: ["x"], node("y", .mul, "x", "1"))
        var limits = Limits(maxWork: 1_000_000_000)
        limits.maxElements = .max
        limits.maxBytes = .max
        expectError("limit_exceeded", mentions: ["operations"]) {
            _ = try g.jacobian(
                values: ["x": try filled(0, [100_000])], outputs: ["x"], limits: limits, deadline: Self.deadline())
        }
    }

    @Test func rowsCheckTheDeadline() throws {
        // The Jacobian of an input with respect to itself runs no node per row, only seed copies.
        let g = try graph(inputs: ["x"], node("y", .exp, "x"))
        expectError("deadline_exceeded") {
            _ = try g.jacobian(
                values: ["x": try filled(0, [1000])], outputs: ["x"], deadline: ContinuousClock.now - .seconds(1))
        }
    }

    @Test func theRenderedResponseCountsAgainstTheByteLimit() throws {
        // 10⁵ results: 0.8 MB as float64, but about 3.2 MB more once written out as text.
        let g = try graph(inputs: ["x"], node("y", .broadcastTo, "x", attrs: ["shape": .ints([100_000])]))
        expectError("limit_exceeded", mentions: ["bytes"]) {
            _ = try g.forward(values: ["x": scalar(1)], outputs: ["y"], limits: Limits(maxBytes: 2_000_000))
        }
        var compact = Limits(maxBytes: 2_000_000)
        compact.resultBytesPerElement = 0
        #expect(try g.forward(values: ["x": scalar(1)], outputs: ["y"], limits: compact)["y"]?.count == 100_000)
    }

    @Test func derivativeGraphsAreBounded() throws {
        // hvp differentiates twice; ten tanh-approximated GELUs grow past 64 nodes per graph node.
        var nodes = [node("n0", .gelu, "x", attrs: ["approximate": .string("tanh")])]
        for i in 1..<10 { nodes.append(node("n\(i)", .gelu, "n\(i - 1)", attrs: ["approximate": .string("tanh")])) }
        nodes.append(node("s", .sum, "n9"))
        let limits = Limits(maxNodes: 11)
        let g = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: limits)
        expectError("limit_exceeded", mentions: ["704"]) {
            _ = try g.hvp(values: ["x": scalar(0.5)], output: "s", vectors: ["x": scalar(1)], limits: limits)
        }
        #expect(throws: Never.self) {
            _ = try g.hvp(values: ["x": scalar(0.5)], output: "s", vectors: ["x": scalar(1)])
        }
    }

    // MARK: Name lists

    @Test func longNameListsAreBounded() throws {
        let limits = Limits(maxNames: 100, maxArgs: 100)
        let inputs = (0..<101).map { "x\($0)" }
        expectError("limit_exceeded", mentions: ["101", "100"]) {
            _ = try Graph(GraphSpec(inputs: inputs, nodes: [node("y", .exp, "x0")]), limits: limits)
        }
        let args = [String](repeating: "x0", count: 101)
        expectError("limit_exceeded", node: "y", mentions: ["101", "100"]) {
            _ = try Graph(
                GraphSpec(inputs: ["x0"], nodes: [nodeSpec("y", "concat", args)]), limits: limits)
        }
        let g = try graph(inputs: ["x"], node("y", .exp, "x"))
        expectError("limit_exceeded", mentions: ["wrt"]) {
            _ = try g.backward(
                values: ["x": scalar(1)], outputs: ["y"], seeds: [:], wrt: [String](repeating: "x", count: 101),
                limits: limits)
        }
    }

    @Test func manyNamesAreLookedUpByHash() throws {
        // 200 000 inputs, each named in values and wrt: linear work, where array scans were 10¹⁰+.
        let count = 50_000
        let inputs = (0..<count).map { "x\($0)" }
        let limits = Limits(maxNames: count)
        let g = try Graph(GraphSpec(inputs: inputs, nodes: [node("y", .add, "x0", "x1")]), limits: limits)
        var values: [String: Tensor] = [:]
        for name in inputs { values[name] = scalar(1) }
        let result = try g.backward(
            values: values, outputs: ["y"], seeds: [:], wrt: inputs, limits: limits, deadline: Self.deadline())
        #expect(result.gradients.count == count)
        #expect(result.unconnected.count == count - 2)
    }
}
