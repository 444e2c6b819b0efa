import Testing

@testable import AutodiffCore

/// Central finite differences against reverse mode for every op, and coverage of the op table.
@Suite("Gradients of every op")
struct OpGradientTests {
    @Test("every op has finite-difference cases", arguments: Op.allCases)
    func everyOpIsCovered(op: Op) {
        let cases = OpCases.cases(for: op)
        #expect(!cases.isEmpty, "add finite-difference cases for \(op.rawValue) to OpCases.cases(for:)")
        if case .exactly(2) = op.arity, op != .matmul {
            // Binary elementwise ops must be checked with broadcasting on both sides.
            let shapes = cases.map(\.args).filter { $0.count == 2 }.compactMap { args -> ([Int], [Int])? in
                switch (args[0], args[1]) {
                case (.input(let a, _), .input(let b, _)), (.noGradient(let a, _), .noGradient(let b, _)): (a, b)
                default: nil
                }
            }
            #expect(shapes.contains { $0.0.count > $0.1.count } && shapes.contains { $0.0.count < $0.1.count })
        }
    }

    @Test("backward matches central finite differences", arguments: OpCases.all)
    func finiteDifferences(_ opCase: OpCase) throws {
        let (graph, values, zero) = try opCase.instantiate()
        var rng = SplitMix64(label: "seed " + opCase.testDescription)
        try FiniteDifference.checkVJP(graph, values, zeroGradient: zero, rng: &rng, label: opCase.testDescription)
    }

    @Test("the implicit seed of a one-element output is 1", arguments: [Op.sum, .mean, .prod, .max, .logsumexp])
    func implicitSeed(op: Op) throws {
        let g = try single(op, arity: 1)
        var rng = SplitMix64(label: "implicit \(op)")
        let x = try rng.tensor([2, 3], 0.5, 1.5)
        let implicit = try g.backward(values: ["x0": x], outputs: ["y"], seeds: [:]).gradients["x0"]
        let explicit = try g.gradient(["x0": x], wrt: "x0", seed: .tensor(scalar(1)))
        expectEqual(implicit, explicit, "\(op): no seed vs seed 1")
    }

    @Test("the gradient of an op whose argument is used twice accumulates", arguments: [Op.add, .mul, .sub])
    func repeatedArgument(op: Op) throws {
        // add(x,x) = 2x, mul(x,x) = x², sub(x,x) = 0: derivatives 2, 2x, 0 (hand-derived).
        let g = try graph(inputs: ["x"], node("y", op, "x", "x"))
        let x = try vector([1.5, -2, 0])
        let expected: [Double] =
            switch op {
            case .add: [2, 2, 2]
            case .mul: [3, -4, 0]
            default: [0, 0, 0]
            }
        expectEqual(try g.gradient(["x": x], wrt: "x"), try vector(expected), "\(op)(x, x)")
    }
}
