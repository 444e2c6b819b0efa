import Testing

@testable import AutodiffCore

/// A call that hits the plan cache answers exactly what an uncached call answers, for its own
/// values and seeds; anything that changes what the program computes misses it.
@Suite("Plan cache")
struct PlanCacheTests {
    static let mlp = GraphSpec(
        inputs: ["x", "W", "b"], constants: ["half": Tensor(scalar: 0.5)],
        nodes: [
            node("h", .matmul, "x", "W"), node("z", .add, "h", "b"), node("y", .tanh, "z"),
            node("s", .mul, "y", "half"), node("loss", .sum, "s"),
        ])

    static func values(_ rng: inout SplitMix64, batch: Int = 2) throws -> [String: Tensor] {
        [
            "x": try tensor([batch, 3], (0..<(batch * 3)).map { _ in rng.uniform(-2, 2) }),
            "W": try tensor([3, 4], (0..<12).map { _ in rng.uniform(-1, 1) }),
            "b": try tensor([4], (0..<4).map { _ in rng.uniform(-1, 1) }),
        ]
    }

    @Test func hitsAnswerLikeFreshCalls() throws {
        let cache = PlanCache()
        let g = try Graph(Self.mlp)
        var rng = SplitMix64(seed: 7)
        for round in 0..<5 {
            let values = try Self.values(&rng)
            let seed = try tensor([2, 4], (0..<8).map { _ in rng.uniform(-1, 1) })
            for seeds: [String: Seed] in [["loss": .ones, "y": .tensor(seed)], ["y": .ones]] {
                let outputs = seeds.keys.sorted()
                let cached = try g.backward(values: values, outputs: outputs, seeds: seeds, wrt: ["W", "b"], cache: cache)
                let fresh = try g.backward(values: values, outputs: outputs, seeds: seeds, wrt: ["W", "b"])
                #expect(cached.gradients == fresh.gradients, "round \(round)")
                #expect(cached.outputs == fresh.outputs, "round \(round)")
            }
            let cached = try g.forward(values: values, outputs: ["loss"], cache: cache)
            #expect(cached == (try g.forward(values: values, outputs: ["loss"])))
        }
        // One program each for the two backward requests and the forward one, prepared once.
        #expect(cache.statistics.misses == 3)
        #expect(cache.statistics.hits == 12)
    }

    @Test func batchedSeedsOfAnySizeShareAPlan() throws {
        let cache = PlanCache()
        let g = try Graph(Self.mlp)
        var rng = SplitMix64(seed: 3)
        let values = try Self.values(&rng)
        for rows in [1, 3, 0, 2] {
            let seeds = try tensor([rows, 2, 4], (0..<(rows * 8)).map { _ in rng.uniform(-1, 1) })
            let options = BackwardOptions(batched: true)
            let cached = try g.backward(
                values: values, outputs: ["y"], seeds: ["y": .tensor(seeds)], options: options, cache: cache)
            let fresh = try g.backward(values: values, outputs: ["y"], seeds: ["y": .tensor(seeds)], options: options)
            #expect(cached.gradients == fresh.gradients)
            #expect(cached.gradients["W"]?.shape == [rows, 3, 4])
        }
        #expect(cache.statistics.misses == 1)
    }

    @Test func whatChangesTheProgramMissesTheCache() throws {
        let cache = PlanCache()
        var rng = SplitMix64(seed: 11)
        let g = try Graph(Self.mlp)
        _ = try g.backward(values: try Self.values(&rng), outputs: ["loss"], seeds: [:], cache: cache)
        // Other input shapes, other wrt, return_graph, other limits, another output.
        _ = try g.backward(values: try Self.values(&rng, batch: 5), outputs: ["loss"], seeds: [:], cache: cache)
        _ = try g.backward(values: try Self.values(&rng), outputs: ["loss"], seeds: [:], wrt: ["x"], cache: cache)
        _ = try g.backward(
            values: try Self.values(&rng), outputs: ["loss"], seeds: [:],
            options: BackwardOptions(returnGraph: true), cache: cache)
        _ = try g.backward(
            values: try Self.values(&rng), outputs: ["loss"], seeds: [:], limits: Limits(maxNodes: 99), cache: cache)
        _ = try g.backward(values: try Self.values(&rng), outputs: ["s"], seeds: ["s": .ones], cache: cache)
        #expect(cache.statistics == (hits: 0, misses: 6))
    }

    @Test func signedZerosAndNaNPayloadsAreDifferentGraphs() throws {
        // 1 / (x · c): c = 0 gives +∞, c = −0 gives −∞. A cache comparing doubles with == would mix them.
        let cache = PlanCache()
        var answers: [Double] = []
        for c in [0.0, -0.0, 0.0] {
            let g = try graph(
                inputs: ["x"], constants: ["c": scalar(c)], node("p", .mul, "x", "c"), node("y", .reciprocal, "p"))
            answers.append(try #require(g.forward(values: ["x": scalar(1)], outputs: ["y"], cache: cache)["y"]?.data[0]))
        }
        #expect(answers == [.infinity, -.infinity, .infinity])
        #expect(cache.statistics == (hits: 1, misses: 2))
        let literal = try graph(inputs: ["x"], node("y", .mul, "x", "-0.0"))
        let positive = try graph(inputs: ["x"], node("y", .mul, "x", "0"))
        #expect(literal.fingerprint != positive.fingerprint)
    }

    @Test func boundedByEntriesAndSlots() throws {
        let cache = PlanCache(capacity: 2, maxSlots: 1_000)
        let g = try Graph(Self.mlp)
        var rng = SplitMix64(seed: 5)
        for batch in 1...3 {
            _ = try g.forward(values: try Self.values(&rng, batch: batch), outputs: ["loss"], cache: cache)
        }
        // The first shape was evicted, the last two are kept.
        _ = try g.forward(values: try Self.values(&rng, batch: 3), outputs: ["loss"], cache: cache)
        _ = try g.forward(values: try Self.values(&rng, batch: 1), outputs: ["loss"], cache: cache)
        #expect(cache.statistics == (hits: 1, misses: 4))
        // A program larger than the whole cache is used but not kept.
        let tiny = PlanCache(maxSlots: 3)
        for _ in 0..<2 { _ = try g.forward(values: try Self.values(&rng), outputs: ["loss"], cache: tiny) }
        #expect(tiny.statistics == (hits: 0, misses: 2))
    }

    @Test func aCachedProgramKeepsEachCallsDeadline() throws {
        let cache = PlanCache()
        let g = try Graph(Self.mlp)
        var rng = SplitMix64(seed: 1)
        let values = try Self.values(&rng)
        _ = try g.backward(values: values, outputs: ["loss"], seeds: [:], cache: cache)
        expectError("deadline_exceeded") {
            _ = try g.backward(
                values: values, outputs: ["loss"], seeds: [:], deadline: ContinuousClock.now - .seconds(1), cache: cache)
        }
        #expect(try g.backward(values: values, outputs: ["loss"], seeds: [:], cache: cache).gradients.count == 3)
        #expect(cache.statistics.hits == 2)
    }
}
