import Testing

@testable import AutodiffCore

/// Every op's backward rule is itself a graph, so it must be differentiable in turn (second derivatives,
/// `return_graph`), and forward mode must agree with finite differences too. Same cases as the VJP check.
@Suite("Second order and forward mode of every op")
struct SecondOrderOpTests {
    @Test(
        "the returned backward graph recomputes the gradient and its own VJP matches finite differences",
        arguments: OpCases.all)
    func backwardOfBackward(_ opCase: OpCase) throws {
        let (graph, values, zero) = try opCase.instantiate()
        var rng = SplitMix64(label: "second order " + opCase.testDescription)
        let y = try graph.value(values)
        let seed = try rng.tensor(y.shape)
        let wrt = values.keys.sorted()
        let first = try graph.backward(
            values: values, outputs: ["y"], seeds: ["y": .tensor(seed)], wrt: wrt,
            options: BackwardOptions(returnGraph: true))
        let returned = try #require(first.backwardGraph)
        #expect(Set(returned.graph.inputs) == Set(wrt + ["seed:y"]), "inputs of the backward graph")
        let back = try Graph(returned.graph)
        var feed = values
        feed["seed:y"] = seed
        for input in wrt {
            let id = try #require(returned.outputs[input], "no gradient node for \(input)")
            // Re-running the backward graph gives the same gradient…
            expectClose(
                try back.value(id, feed), try #require(first.gradients[input]), rtol: 1e-13, atol: 1e-15,
                "\(opCase.testDescription): backward graph value for \(input)")
            // …and its own reverse mode (a Hessian-vector product) agrees with finite differences.
            try FiniteDifference.checkVJP(
                back, feed, output: id, zeroGradient: zero, rng: &rng,
                label: "\(opCase.testDescription), d(grad \(input))")
        }
    }

    @Test("jvp matches a central finite difference along a random tangent", arguments: OpCases.all)
    func forwardMode(_ opCase: OpCase) throws {
        let (graph, values, zero) = try opCase.instantiate()
        var rng = SplitMix64(label: "tangent " + opCase.testDescription)
        // Tangents for the differentiable inputs only; the rest have none (zero tangent).
        var tangents: [String: Tensor] = [:]
        for (name, x) in values.sorted(by: { $0.key < $1.key }) where !zero.contains(name) {
            tangents[name] = try rng.tensor(x.shape)
        }
        let result = try graph.jvp(values: values, outputs: ["y"], tangents: tangents)
        let h = FiniteDifference.step
        func shifted(_ sign: Double) throws -> Tensor {
            var moved = values
            for (name, t) in tangents {
                moved[name] = try tensor(t.shape, zip(values[name]!.data, t.data).map { $0 + sign * h * $1 })
            }
            return try graph.value(moved)
        }
        let plus = try shifted(1)
        let minus = try shifted(-1)
        let expected = try tensor(plus.shape, zip(plus.data, minus.data).map { ($0 - $1) / (2 * h) })
        expectClose(
            result.tangents["y"], expected, rtol: FiniteDifference.rtol, atol: FiniteDifference.atol,
            "\(opCase.testDescription): J·t")
        expectEqual(result.outputs["y"], try graph.value(values), "\(opCase.testDescription): jvp's output value")
    }
}
