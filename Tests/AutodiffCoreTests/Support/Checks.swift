import Testing

@testable import AutodiffCore

// MARK: Comparing tensors

/// Whether `got` is within `atol + rtol·max(|got|, |expected|)` of `expected`. Equal infinities and
/// two NaNs count as close, so the same helper covers IEEE edge values.
func isClose(_ got: Double, _ expected: Double, rtol: Double = 1e-12, atol: Double = 1e-12) -> Bool {
    if got.isNaN || expected.isNaN { return got.isNaN && expected.isNaN }
    if got.isInfinite || expected.isInfinite { return got == expected }
    return abs(got - expected) <= atol + rtol * max(abs(got), abs(expected))
}

/// Expects `got` to have `expected`'s shape and close elements; reports the first few that differ.
func expectClose(
    _ got: Tensor?, _ expected: Tensor, rtol: Double = 1e-12, atol: Double = 1e-12, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let got else {
        Issue.record("\(what): no tensor, expected \(expected)", sourceLocation: sourceLocation)
        return
    }
    guard got.shape == expected.shape else {
        Issue.record("\(what): shape \(got.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    let bad = got.data.indices.filter { !isClose(got.data[$0], expected.data[$0], rtol: rtol, atol: atol) }
    if !bad.isEmpty {
        let detail = bad.prefix(4).map { "[\($0)] got \(got.data[$0]) expected \(expected.data[$0])" }
        Issue.record(
            "\(what): \(bad.count) of \(got.count) elements differ: \(detail.joined(separator: "; "))",
            sourceLocation: sourceLocation)
    }
}

/// Expects exactly `expected` (shape, values; NaN matches NaN; the sign of zero is not compared).
func expectEqual(
    _ got: Tensor?, _ expected: Tensor, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    expectClose(got, expected, rtol: 0, atol: 0, what, sourceLocation: sourceLocation)
}

// MARK: Errors

/// Runs `body`, expecting an `AutodiffError` with `code` (one of `codes`), at `node` when given, whose
/// message mentions each of `mentions` (compared without spaces, so `[2,3]` matches `[2, 3]`).
func expectError(
    _ codes: String..., node: String? = nil, mentions: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record(
            "expected error \(codes.joined(separator: " or ")), but nothing was thrown",
            sourceLocation: sourceLocation)
    } catch let error as AutodiffError {
        #expect(codes.contains(error.code.rawValue), "got \(error)", sourceLocation: sourceLocation)
        if let node {
            #expect(
                error.node == node, "error names \(error.node ?? "nil"), expected \(node): \(error)",
                sourceLocation: sourceLocation)
        }
        let message = error.message.filter { $0 != " " }
        for mention in mentions {
            #expect(
                message.contains(mention.filter { $0 != " " }),
                "message should mention \(mention): \(error.message)", sourceLocation: sourceLocation)
        }
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an AutodiffError, got \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: Finite differences

/// Central differences in float64: `(L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h` for `L = Σ seed ⊙ f(x)`.
enum FiniteDifference {
    static let step = 1e-6
    static let rtol = 1e-5
    static let atol = 1e-7

    /// `Σ seed ⊙ output` for the values.
    static func objective(
        _ graph: Graph, _ values: [String: Tensor], output: String, seed: Tensor
    ) throws -> Double {
        let y = try graph.value(output, values)
        return zip(y.data, seed.data).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// The gradient of `Σ seed ⊙ output` with respect to `input` by central differences.
    static func gradient(
        _ graph: Graph, _ values: [String: Tensor], output: String, seed: Tensor, input: String,
        step h: Double = step
    ) throws -> Tensor {
        let x = try #require(values[input])
        var result = x.data
        for index in x.data.indices {
            var shifted = values
            var data = x.data
            data[index] = x.data[index] + h
            shifted[input] = try Tensor(shape: x.shape, data: data)
            let plus = try objective(graph, shifted, output: output, seed: seed)
            data[index] = x.data[index] - h
            shifted[input] = try Tensor(shape: x.shape, data: data)
            let minus = try objective(graph, shifted, output: output, seed: seed)
            result[index] = (plus - minus) / (2 * h)
        }
        return try Tensor(shape: x.shape, data: result)
    }

    /// Checks `graph.backward` against central differences for a random seed of `output`'s shape.
    /// Inputs in `zeroGradient` must instead get a gradient of exact zeros.
    static func checkVJP(
        _ graph: Graph, _ values: [String: Tensor], output: String = "y", zeroGradient: Set<String> = [],
        rng: inout SplitMix64, label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let y = try graph.value(output, values)
        let seed = try rng.tensor(y.shape)
        let wrt = values.keys.sorted()
        let result = try graph.backward(values: values, outputs: [output], seeds: [output: .tensor(seed)], wrt: wrt)
        expectEqual(result.outputs[output], y, "\(label): backward's output value", sourceLocation: sourceLocation)
        for input in wrt {
            let x = try #require(values[input])
            let got = result.gradients[input]
            if zeroGradient.contains(input) {
                expectEqual(
                    got, try filled(0, x.shape), "\(label): gradient of \(input) (none)",
                    sourceLocation: sourceLocation)
                continue
            }
            let expected = try gradient(graph, values, output: output, seed: seed, input: input)
            expectClose(
                got, expected, rtol: rtol, atol: atol, "\(label): d/d\(input) vs finite differences",
                sourceLocation: sourceLocation)
        }
    }
}
