import Testing

@testable import AutodiffCore

/// Batched seeds, Jacobians, forward mode, Hessian-vector products and the returned backward graph.
@Suite("Beyond a single VJP")
struct HigherOrderTests {
    /// loss = Σ tanh(x @ W + b): a one-layer MLP.
    static func mlp() throws -> Graph {
        try graph(
            inputs: ["x", "W", "b"], node("h", .matmul, "x", "W"), node("z", .add, "h", "b"),
            node("t", .tanh, "z"), node("loss", .sum, "t"))
    }

    /// loss = Σ (softmax(q kᵀ) v)²: one attention head.
    static func attention() throws -> Graph {
        try graph(
            inputs: ["q", "k", "v"], node("kt", .transpose, "k"), node("s", .matmul, "q", "kt"),
            node("a", .softmax, "s"), node("o", .matmul, "a", "v"), node("o2", .square, "o"), node("loss", .sum, "o2"))
    }

    static func randomValues(_ shapes: [String: [Int]], _ label: String) throws -> [String: Tensor] {
        var rng = SplitMix64(label: label)
        return try shapes.keys.sorted().reduce(into: [:]) { $0[$1] = try rng.tensor(shapes[$1]!) }
    }

    static let mlpShapes = ["x": [3, 4], "W": [4, 2], "b": [2]]
    static let attentionShapes = ["q": [2, 3], "k": [4, 3], "v": [4, 3]]

    // MARK: Batched seeds

    @Test func batchedRowsEqualUnbatchedCalls() throws {
        let g = try Self.mlp()
        let values = try Self.randomValues(Self.mlpShapes, "batched")
        var rng = SplitMix64(label: "batched seeds")
        let seedT = try rng.tensor([3, 3, 2])
        let seedLoss = try rng.tensor([3])
        let batched = try g.backward(
            values: values, outputs: ["t", "loss"],
            seeds: ["t": .tensor(seedT), "loss": .tensor(seedLoss)],
            options: BackwardOptions(batched: true))
        for k in 0..<3 {
            let rowT = try tensor([3, 2], Array(seedT.data[(k * 6)..<(k * 6 + 6)]))
            let single = try g.backward(
                values: values, outputs: ["t", "loss"],
                seeds: ["t": .tensor(rowT), "loss": .tensor(scalar(seedLoss.data[k]))])
            for (name, x) in values {
                let full = try #require(batched.gradients[name])
                #expect(full.shape == [3] + x.shape, "batched gradient of \(name)")
                let n = x.count
                guard full.count == 3 * n else { continue }
                expectClose(
                    try tensor(x.shape, Array(full.data[(k * n)..<(k * n + n)])), try #require(single.gradients[name]),
                    rtol: 1e-13, atol: 1e-15, "row \(k) of d/d\(name)")
            }
        }
    }

    @Test func batchedSeedErrors() throws {
        let g = try graph(inputs: ["x"], node("y", .mul, "x", "x"), node("s", .sum, "y"))
        let x = try vector([1, 2, 3])
        // No implicit seeds when batched, even for a scalar output.
        expectError("seed_required", node: "s") {
            _ = try g.backward(values: ["x": x], outputs: ["s"], seeds: [:], options: BackwardOptions(batched: true))
        }
        // Every seed needs the leading batch dimension, and the same B.
        expectError("seed_shape_mismatch", node: "y") {
            _ = try g.backward(
                values: ["x": x], outputs: ["y"], seeds: ["y": .tensor(x)], options: BackwardOptions(batched: true))
        }
        expectError("seed_shape_mismatch") {
            _ = try g.backward(
                values: ["x": x], outputs: ["y", "s"],
                seeds: ["y": .tensor(try filled(1, [2, 3])), "s": .tensor(try filled(1, [4]))],
                options: BackwardOptions(batched: true))
        }
    }

    // MARK: Jacobian

    @Test func jacobianMatchesStackedVJPsAndFiniteDifferences() throws {
        let g = try Self.mlp()
        let values = try Self.randomValues(Self.mlpShapes, "jacobian")
        let result = try g.jacobian(values: values, outputs: ["t", "loss"], wrt: ["W", "x"])
        let t = try g.value("t", values)
        expectEqual(result.outputs["t"], t)
        #expect(result.jacobian["t"]?.keys.sorted() == ["W", "x"])
        for (output, shape) in [("t", [3, 2]), ("loss", [Int]())] {
            for input in ["W", "x"] {
                let x = try #require(values[input])
                let J = try #require(result.jacobian[output]?[input])
                #expect(J.shape == shape + x.shape, "J[\(output)][\(input)]")
                guard J.shape == shape + x.shape else { continue }
                for row in 0..<elementCount(shape) {
                    var basis = [Double](repeating: 0, count: elementCount(shape))
                    basis[row] = 1
                    let e = try tensor(shape, basis)
                    let vjp = try g.gradient(output, values, wrt: input, seed: .tensor(e))
                    let slice = try tensor(x.shape, Array(J.data[(row * x.count)..<((row + 1) * x.count)]))
                    expectClose(slice, vjp, rtol: 1e-13, atol: 1e-15, "row \(row) of J[\(output)][\(input)] vs VJP")
                    let fd = try FiniteDifference.gradient(g, values, output: output, seed: e, input: input)
                    expectClose(
                        slice, fd, rtol: FiniteDifference.rtol, atol: FiniteDifference.atol,
                        "row \(row) of J[\(output)][\(input)] vs finite differences")
                }
            }
        }
    }

    @Test func jacobianOfElementwiseOpIsDiagonal() throws {
        // d(x²)/dx = diag(2x), laid out [3, 3].
        let g = try graph(inputs: ["x"], node("y", .square, "x"))
        let J = try g.jacobian(values: ["x": try vector([1, -2, 0.5])], outputs: ["y"]).jacobian["y"]?["x"]
        expectEqual(J, try matrix([[2, 0, 0], [0, -4, 0], [0, 0, 1]]))
    }

    @Test func jacobianOfAnUnconnectedInputIsZero() throws {
        let g = try graph(inputs: ["x", "z"], node("y", .mul, "x", "2"))
        let J = try g.jacobian(values: ["x": try vector([1, 2]), "z": try matrix([[1, 2, 3]])], outputs: ["y"])
            .jacobian["y"]
        expectEqual(J?["x"], try matrix([[2, 0], [0, 2]]))
        expectEqual(J?["z"], try filled(0, [2, 1, 3]))
    }

    // MARK: JVP

    @Test func jvpMatchesFiniteDifferences() throws {
        let g = try Self.attention()
        let values = try Self.randomValues(Self.attentionShapes, "jvp")
        var rng = SplitMix64(label: "tangents")
        let tangents = ["q": try rng.tensor([2, 3]), "v": try rng.tensor([4, 3])]  // k has none: zero tangent
        let result = try g.jvp(values: values, outputs: ["o", "loss"], tangents: tangents)
        let h = 1e-6
        for output in ["o", "loss"] {
            var plus = values
            var minus = values
            for (name, t) in tangents {
                let x = values[name]!
                plus[name] = try tensor(x.shape, zip(x.data, t.data).map { $0 + h * $1 })
                minus[name] = try tensor(x.shape, zip(x.data, t.data).map { $0 - h * $1 })
            }
            let yp = try g.value(output, plus)
            let ym = try g.value(output, minus)
            let fd = try tensor(yp.shape, zip(yp.data, ym.data).map { ($0 - $1) / (2 * h) })
            expectClose(result.tangents[output], fd, rtol: 1e-5, atol: 1e-7, "J·t of \(output)")
        }
        expectEqual(result.outputs["o"], try g.value("o", values))
        expectError("invalid_request", node: "nope") {
            _ = try g.jvp(values: values, outputs: ["o"], tangents: ["nope": scalar(1)])
        }
        expectError("invalid_request", "seed_shape_mismatch", node: "q") {
            _ = try g.jvp(values: values, outputs: ["o"], tangents: ["q": try filled(1, [3, 2])])
        }
    }

    // MARK: HVP

    @Test func hvpOfCubeIsSixXV() throws {
        // loss = Σ x³: gradient 3x², Hessian diag(6x). Dyadic values keep every product exact.
        let g = try graph(
            inputs: ["x"], node("x2", .mul, "x", "x"), node("x3", .mul, "x2", "x"), node("loss", .sum, "x3"))
        let x = try vector([1, 2, -3, 0.5])
        let v = try vector([1, 0.5, 2, -4])
        let r = try g.hvp(values: ["x": x], output: "loss", vectors: ["x": v])
        expectEqual(r.output, scalar(1 + 8 - 27 + 0.125))
        expectEqual(r.gradients["x"], try vector([3, 12, 27, 0.75]))
        expectEqual(r.hvp["x"], try vector([6, 6, -36, -12]))
    }

    @Test("hvp matches finite differences of gradients", arguments: ["mlp", "attention"])
    func hvpMatchesFiniteDifferences(_ name: String) throws {
        let (g, shapes) =
            name == "mlp" ? (try Self.mlp(), Self.mlpShapes) : (try Self.attention(), Self.attentionShapes)
        let values = try Self.randomValues(shapes, "hvp " + name)
        let vectors = try Self.randomValues(shapes, "hvp vectors " + name)
        let result = try g.hvp(values: values, output: "loss", vectors: vectors)
        let h = 1e-5
        func shifted(_ sign: Double) throws -> [String: Tensor] {
            try values.mapValues { $0 }.reduce(into: [:]) { out, entry in
                let v = vectors[entry.key]!
                out[entry.key] = try tensor(entry.value.shape, zip(entry.value.data, v.data).map { $0 + sign * h * $1 })
            }
        }
        let gp = try g.gradients(of: "loss", try shifted(1), seed: .ones)
        let gm = try g.gradients(of: "loss", try shifted(-1), seed: .ones)
        for input in shapes.keys.sorted() {
            let p = gp[input]!
            let m = gm[input]!
            let fd = try tensor(p.shape, zip(p.data, m.data).map { ($0 - $1) / (2 * h) })
            expectClose(result.hvp[input], fd, rtol: 1e-5, atol: 1e-7, "\(name): Hv for \(input)")
            expectClose(
                result.gradients[input], try g.gradients(of: "loss", values)[input]!, rtol: 1e-14, atol: 0,
                "\(name): gradient of \(input)")
        }
        // With wrt, only those inputs are returned; vectors for the others still count.
        let some = try g.hvp(values: values, output: "loss", vectors: vectors, wrt: [shapes.keys.sorted()[0]])
        #expect(some.hvp.keys.sorted() == [shapes.keys.sorted()[0]])
        expectClose(some.hvp[shapes.keys.sorted()[0]], result.hvp[shapes.keys.sorted()[0]]!, rtol: 1e-13, atol: 1e-15)
    }

    @Test func hvpNeedsAOneElementOutput() throws {
        let g = try graph(inputs: ["x"], node("y", .square, "x"))
        expectError("invalid_request", "seed_required", node: "y") {
            _ = try g.hvp(values: ["x": try vector([1, 2])], output: "y", vectors: ["x": try vector([1, 1])])
        }
    }

    // MARK: Backward graph

    @Test func returnedBackwardGraphGivesSecondDerivatives() throws {
        let g = try graph(inputs: ["x"], node("x2", .mul, "x", "x"), node("y", .mul, "x2", "x"))
        let x = try vector([1, 2, -3])
        let seed = try vector([1, 0.5, 2])
        let r = try g.backward(
            values: ["x": x], outputs: ["y"], seeds: ["y": .tensor(seed)],
            options: BackwardOptions(returnGraph: true))
        expectEqual(r.gradients["x"], try vector([3, 6, 54]))  // 3x²·seed
        let bg = try #require(r.backwardGraph)
        #expect(bg.graph.inputs.sorted() == ["seed:y", "x"])
        let gradNode = try #require(bg.outputs["x"])
        let back = try Graph(bg.graph)
        let feed = ["x": x, "seed:y": seed]
        // Re-running the returned graph reproduces the gradient…
        expectEqual(try back.value(gradNode, feed), try vector([3, 6, 54]))
        // …and differentiating it gives d/dx (3x²·seed) = 6x·seed and d/dseed = 3x² (seed ones).
        let second = try back.backward(values: feed, outputs: [gradNode], seeds: [gradNode: .ones])
        expectEqual(second.gradients["x"], try vector([6, 6, -36]))
        expectEqual(second.gradients["seed:y"], try vector([3, 12, 27]))
    }

    @Test func backwardGraphKeepsTheGraphsOwnNames() throws {
        // The graph already uses the names differentiation picks first (its seed input's and its
        // nodes'), and one of them reads another: the returned graph must keep every one of the
        // graph's names for the graph's own value and still compute the gradients.
        let g = try graph(
            inputs: ["x", "seed:y"], node("grad1", .mul, "x", "x"), node("grad2", .sin, "grad1"),
            node("grad1_1", .mul, "grad2", "x"), node("y", .add, "grad1_1", "seed:y"))
        let x = try vector([0.5, -1.25, 2])
        let shift = try vector([1, 2, 3])
        let seed = try vector([1, -0.5, 0.25])
        let r = try g.backward(
            values: ["x": x, "seed:y": shift], outputs: ["y"], seeds: ["y": .tensor(seed)],
            options: BackwardOptions(returnGraph: true))
        let bg = try #require(r.backwardGraph)
        let back = try Graph(bg.graph)  // unique names, or this throws duplicate_name
        let seedInput = try #require(bg.graph.inputs.first { !["x", "seed:y"].contains($0) })
        let feed = ["x": x, "seed:y": shift, seedInput: seed]
        // The gradient reads grad1 (sin's rule) and grad2 (mul's rule) under their own names.
        for id in ["grad1", "grad2"] {
            expectEqual(try back.value(id, feed), try g.value(id, ["x": x, "seed:y": shift]), id)
        }
        for input in ["x", "seed:y"] {
            expectEqual(try back.value(try #require(bg.outputs[input]), feed), try #require(r.gradients[input]), input)
        }
    }

    @Test func backwardGraphOfAnMLPMatchesTheGradients() throws {
        let g = try Self.mlp()
        let values = try Self.randomValues(Self.mlpShapes, "backward graph")
        let r = try g.backward(
            values: values, outputs: ["loss"], seeds: [:], options: BackwardOptions(returnGraph: true))
        let bg = try #require(r.backwardGraph)
        let back = try Graph(bg.graph)
        var feed = values
        feed["seed:loss"] = scalar(1)
        for input in ["x", "W", "b"] {
            let id = try #require(bg.outputs[input])
            expectClose(try back.value(id, feed), try #require(r.gradients[input]), rtol: 1e-14, atol: 1e-16, input)
        }
    }
}
