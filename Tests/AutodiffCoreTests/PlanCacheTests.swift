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

    /// A server that accepts graphs of `n` nodes keeps the program of a backward call on an `n`-node
    /// chain (3 to 4 slots a node), so a repeated call reuses it; the default bound alone does not.
    @Test func theProgramOfAGraphOfTheLargestSizeIsKept() throws {
        let n = 100_000
        var nodes = [node("n0", .sin, "x")]
        for i in 1..<n { nodes.append(node("n\(i)", i % 2 == 0 ? .sin : .tanh, "n\(i - 1)")) }
        var limits = Limits()
        limits.maxNodes = n
        let g = try Graph(GraphSpec(inputs: ["x"], nodes: nodes), limits: limits)
        let values = ["x": try tensor([4], [0.1, -0.2, 0.3, -0.4])]
        let output = "n\(n - 1)"
        #expect(PlanCache.maxSlots(forGraphsOf: 10_000) == PlanCache.defaultMaxSlots)
        #expect(PlanCache.maxSlots(forGraphsOf: Int.max) == Int.max)
        for (maxSlots, hits) in [(PlanCache.defaultMaxSlots, 0), (PlanCache.maxSlots(forGraphsOf: n), 1)] {
            let cache = PlanCache(maxSlots: maxSlots)
            let first = try g.backward(values: values, outputs: [output], seeds: [output: .ones], limits: limits, cache: cache)
            let again = try g.backward(values: values, outputs: [output], seeds: [output: .ones], limits: limits, cache: cache)
            #expect(first.gradients == again.gradients)
            #expect(cache.statistics == (hits: hits, misses: 2 - hits), "\(maxSlots) slots")
        }
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

/// The plan cache's bound counts the constants its programs hold (seventh session, audit): it
/// counted slots only, so 64 programs of a graph with a large constant each were kept however large
/// (64 calls sending a new 12 MB constant each kept 768 MB where the cache was meant to hold 100).
@Suite("Plan cache memory")
struct PlanCacheMemoryTests {
    /// `y = x · c` with a constant `c` of `count` elements, all `value`.
    static func scaled(count: Int, value: Double) throws -> Graph {
        try Graph(
            GraphSpec(
                inputs: ["x"], constants: ["c": try tensor([count], Array(repeating: value, count: count))],
                nodes: [node("y", .mul, "x", "c"), node("s", .sum, "y")]))
    }

    @Test func programsHoldingLargeConstantsCountThem() throws {
        // 40,000 elements weigh 800 slots: two such programs do not fit in 1,000 slots.
        let cache = PlanCache(capacity: 64, maxSlots: 1_000)
        let first = try Self.scaled(count: 40_000, value: 1)
        let second = try Self.scaled(count: 40_000, value: 2)
        let x = ["x": Tensor(scalar: 3)]
        for graph in [first, second, first] {
            _ = try graph.forward(values: x, outputs: ["s"], cache: cache)
        }
        #expect(cache.statistics == (hits: 0, misses: 3), "the first program was kept beside the second")
        // Small constants still leave room for many programs.
        let small = PlanCache(capacity: 64, maxSlots: 1_000)
        for value in 1...10 {
            _ = try Self.scaled(count: 100, value: Double(value)).forward(values: x, outputs: ["s"], cache: small)
        }
        _ = try Self.scaled(count: 100, value: 1).forward(values: x, outputs: ["s"], cache: small)
        #expect(small.statistics == (hits: 1, misses: 10))
    }

    @Test func aProgramWhoseConstantsOutweighTheCacheIsNotKept() throws {
        let cache = PlanCache(capacity: 64, maxSlots: 1_000)
        let huge = try Self.scaled(count: 60_000, value: 1)
        for _ in 0..<2 {
            let result = try huge.backward(values: ["x": Tensor(scalar: 3)], outputs: ["s"], seeds: [:], cache: cache)
            #expect(result.gradients["x"]?.data == [60_000])
        }
        #expect(cache.statistics == (hits: 0, misses: 2))
    }
}
