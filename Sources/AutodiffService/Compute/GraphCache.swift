import AutodiffCore

/// A registered graph: validated once, kept with its canonical JSON.
struct RegisteredGraph: Sendable {
    /// `sha256-<hex>` of `canonicalJSON`.
    let id: String
    let graph: Graph
    /// The canonical form, served by `GET /v1/graphs/{id}`.
    let canonicalJSON: [UInt8]
    let nodeCount: Int
}

/// The bounded, least-recently-used store of registered graphs of this process.
///
/// Entries hold the validated `Graph`, so calls by `graph_id` skip parsing and validation.
/// Nothing is shared between replicas: a replica that does not hold an id answers 404
/// `graph_not_found` and the client registers the graph again, which is cheap and idempotent
/// because the id is the hash of the graph's canonical form.
actor GraphCache {
    let capacity: Int
    private var entries: [String: (graph: RegisteredGraph, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { entries.count }

    /// Stores `graph`, evicting the least recently used entry when full.
    func insert(_ graph: RegisteredGraph) {
        clock += 1
        if entries[graph.id] == nil, entries.count >= capacity,
            let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key
        {
            entries[oldest] = nil
        }
        entries[graph.id] = (graph, clock)
    }

    /// The graph registered as `id`, marking it recently used.
    func graph(_ id: String) -> RegisteredGraph? {
        guard let entry = entries[id] else { return nil }
        clock += 1
        entries[id] = (entry.graph, clock)
        return entry.graph
    }
}
