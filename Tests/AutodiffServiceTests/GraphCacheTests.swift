import AutodiffCore
import Testing

@testable import AutodiffService

/// The registered-graph store keeps its bounds by evicting the least recently used entries.
@Suite struct GraphCacheTests {
    static let graph = Result { try AutodiffCore.Graph(AutodiffCore.GraphSpec(inputs: ["x"], nodes: [])) }

    func entry(_ id: String, bytes: Int) throws -> RegisteredGraph {
        RegisteredGraph(id: id, graph: try Self.graph.get(), canonicalJSON: [], nodeCount: 0, byteCount: bytes)
    }

    func held(_ cache: GraphCache, _ ids: [String]) -> [String] {
        ids.filter { cache.graph($0) != nil }
    }

    @Test func evictsTheLeastRecentlyUsedByCount() throws {
        let cache = GraphCache(capacity: 3, maxBytes: 1 << 20)
        for id in ["a", "b", "c"] { try cache.insert(entry(id, bytes: 1)) }
        _ = cache.graph("a")
        try cache.insert(entry("d", bytes: 1))  // b is the least recently used
        try cache.insert(entry("c", bytes: 1))  // already held: only marks c used
        try cache.insert(entry("e", bytes: 1))  // a is now the least recently used
        #expect(cache.count == 3)
        #expect(held(cache, ["a", "b", "c", "d", "e"]) == ["c", "d", "e"])
    }

    @Test func evictsTheLeastRecentlyUsedByBytes() throws {
        let cache = GraphCache(capacity: 100, maxBytes: 100)
        try cache.insert(entry("a", bytes: 40))
        try cache.insert(entry("b", bytes: 40))
        try cache.insert(entry("c", bytes: 20))
        _ = cache.graph("a")
        try cache.insert(entry("d", bytes: 50))  // needs 50 free: b (40) goes, then c (20)
        #expect(held(cache, ["a", "b", "c", "d"]) == ["a", "d"])
        try cache.insert(entry("e", bytes: 100))  // takes everything
        #expect(held(cache, ["a", "b", "c", "d", "e"]) == ["e"])
        #expect(throws: AutodiffError.self) { try cache.insert(entry("f", bytes: 101)) }
        #expect(held(cache, ["e", "f"]) == ["e"])
    }

    @Test func staysWithinBothBoundsUnderChurn() throws {
        let cache = GraphCache(capacity: 50, maxBytes: 1_000)
        var random = SplitMix64(seed: 7)
        var order: [String] = []  // most recent last: a reference model of the cache
        var sizes: [String: Int] = [:]
        for _ in 0..<5_000 {
            let id = "g\(random.next() % 200)"
            if random.next() % 3 == 0 {
                let found = cache.graph(id) != nil
                #expect(found == order.contains(id))
                if found { order.removeAll { $0 == id }; order.append(id) }
            } else {
                let bytes = sizes[id] ?? 1 + Int(random.next() % 100)
                sizes[id] = bytes
                try cache.insert(entry(id, bytes: bytes))
                if order.contains(id) {
                    order.removeAll { $0 == id }
                } else {
                    while order.count >= 50 || order.reduce(0, { $0 + (sizes[$1] ?? 0) }) + bytes > 1_000 {
                        order.removeFirst()
                    }
                }
                order.append(id)
            }
            #expect(cache.count == order.count)
        }
    }
}
