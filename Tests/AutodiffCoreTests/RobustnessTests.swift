import Testing

@testable import AutodiffCore

/// Nothing a client sends may crash the process: random, often malformed graphs, attributes, values
/// and seeds must each end in a result or a typed client error, never a trap or an `internal` error.
@Suite("Robustness against arbitrary input")
struct RobustnessTests {
    struct Generator {
        var rng: SplitMix64

        mutating func int(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(rng.next() % UInt64(range.count))
        }

        mutating func chance(_ p: Double) -> Bool {
            rng.uniform(0, 1) < p
        }

        /// Mostly small integers, sometimes extremes that overflow naive arithmetic.
        mutating func index() -> Int {
            chance(0.1) ? [Int.max, Int.min, 1 << 62, -(1 << 62), 1 << 31, 100_000][int(0...5)] : int(-4...4)
        }

        mutating func number() -> Double {
            chance(0.15) ? [Double.nan, .infinity, -.infinity, 0, -0.0, 1e308][int(0...5)] : rng.uniform(-3, 3)
        }

        mutating func shape() -> [Int] {
            (0..<int(0...3)).map { _ in int(0...3) }
        }

        mutating func tensor(_ shape: [Int]) -> Tensor {
            Tensor(validShape: shape, data: (0..<elementCount(shape)).map { _ in number() })
        }

        mutating func attribute(_ kind: AttributeSpec.Kind) -> AttributeValue {
            if chance(0.1) {
                return [.string("x"), .bool(true), .null, .array([.string("a")]), .number(0.5)][int(0...4)]
            }
            switch kind {
            case .int: return .int(index())
            case .ints, .indices: return .ints((0..<int(0...4)).map { _ in index() })
            case .number: return .number(number())
            case .bool: return .bool(chance(0.5))
            case .choice(let options): return .string(chance(0.9) ? options[int(0...(options.count - 1))] : "bogus")
            }
        }

        mutating func graph(inputs: [String]) -> GraphSpec {
            var names = inputs
            var nodes: [NodeSpec] = []
            for i in 0..<int(1...5) {
                let op = Op.allCases[int(0...(Op.allCases.count - 1))]
                var count: Int
                switch op.arity {
                case .exactly(let n): count = n
                case .atLeast(let n): count = n + int(0...2)
                }
                if chance(0.05) { count = int(0...4) }
                let args: [ArgumentSpec] = (0..<count).map { _ in
                    chance(0.15)
                        ? .number(number()) : .name(chance(0.02) ? "missing" : names[int(0...(names.count - 1))])
                }
                var attrs: [String: AttributeValue] = [:]
                for spec in op.attributes where spec.required || chance(0.6) {
                    attrs[spec.name] = attribute(spec.kind)
                }
                if chance(0.03) { attrs["bogus"] = .number(1) }
                let id = "n\(i)"
                nodes.append(NodeSpec(id: id, op: chance(0.02) ? "bogus" : op.rawValue, args: args, attrs: attrs))
                names.append(id)
            }
            if chance(0.5) { nodes.shuffle(using: &rng) }
            return GraphSpec(inputs: inputs, nodes: nodes)
        }
    }

    /// Runs `body`; a client error is fine, an `internal` one is a bug.
    func attempt(_ what: String, _ iteration: Int, _ body: () throws -> Void) {
        do {
            try body()
        } catch let error as AutodiffError {
            #expect(error.code != .internal, "iteration \(iteration), \(what): \(error)")
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("iteration \(iteration), \(what): not an AutodiffError: \(error)")
        }
    }

    @Test("random graphs end in a result or a typed error", arguments: 0..<8)
    func randomGraphs(batch: Int) {
        var gen = Generator(rng: SplitMix64(seed: 0x5eed_0000 + UInt64(batch)))
        let limits = Limits(maxNodes: 100, maxElements: 10_000, maxBytes: 1 << 22, maxWork: 10_000_000)
        var evaluated = 0
        for iteration in 0..<500 {
            let inputs = ["a", "b", "c"]
            let spec = gen.graph(inputs: inputs)
            var values: [String: Tensor] = [:]
            for input in inputs { values[input] = gen.tensor(gen.shape()) }
            let output = spec.nodes.map(\.id).max() ?? "a"
            let seed: Seed = gen.chance(0.5) ? .ones : .tensor(gen.tensor(gen.shape()))
            attempt("graph", iteration) {
                let graph = try Graph(spec, limits: limits)
                attempt("backward", iteration) {
                    let r = try graph.backward(
                        values: values, outputs: [output], seeds: [output: seed],
                        options: BackwardOptions(returnGraph: gen.chance(0.3)), limits: limits)
                    evaluated += 1
                    for input in inputs {
                        #expect(
                            r.gradients[input]?.shape == values[input]?.shape, "iteration \(iteration): gradient shape")
                    }
                    if let returned = r.backwardGraph {
                        attempt("backward graph", iteration) {
                            _ = try Graph(returned.graph, limits: Limits(maxNodes: 1000))
                        }
                    }
                }
                attempt("jvp", iteration) {
                    _ = try graph.jvp(
                        values: values, outputs: [output], tangents: ["a": gen.tensor(values["a"]!.shape)],
                        limits: limits)
                }
                attempt("hvp", iteration) {
                    _ = try graph.hvp(
                        values: values, output: output, vectors: ["b": gen.tensor(values["b"]!.shape)],
                        limits: limits)
                }
            }
        }
        // Keep the generator honest: a fair share of its graphs must be valid and run to the end.
        #expect(evaluated >= 50, "only \(evaluated) of 500 random graphs were differentiated")
    }
}
