import AutodiffCore

/// A registered graph: validated once, kept with its canonical JSON.
struct RegisteredGraph: Sendable {
    /// `sha256-<hex>` of `canonicalJSON`.
    let id: String
    let graph: Graph
    /// The canonical form, served by `GET /v1/graphs/{id}`.
    let canonicalJSON: [UInt8]
    let nodeCount: Int
    /// What the entry costs to keep: its JSON plus its constants' float64 storage.
    let byteCount: Int
}

/// The bounded, least-recently-used store of registered graphs of this process.
///
/// Bounded both by entries and by bytes, so large constants cannot make registration a way to fill
/// memory. Entries hold the validated `Graph`, so calls by `graph_id` skip parsing and validation.
/// Nothing is shared between replicas: a replica that does not hold an id answers 404
/// `graph_not_found` and the client registers the graph again, which is cheap and idempotent
/// because the id is the hash of the graph's canonical form.
actor GraphCache {
    let capacity: Int
    let maxBytes: Int
    private var entries: [String: (graph: RegisteredGraph, lastUse: UInt64)] = [:]
    private var bytes = 0
    private var clock: UInt64 = 0

    init(capacity: Int, maxBytes: Int) {
        self.capacity = max(1, capacity)
        self.maxBytes = max(1, maxBytes)
    }

    var count: Int { entries.count }

    /// Stores `graph`, evicting least recently used entries until both bounds hold.
    func insert(_ graph: RegisteredGraph) throws(AutodiffError) {
        guard graph.byteCount <= maxBytes else {
            throw .limitExceeded(
                "the graph needs \(graph.byteCount) bytes to keep; registered graphs may use at most \(maxBytes) "
                    + "(--graph-cache-bytes); send it inline with each call instead")
        }
        clock += 1
        if let existing = entries[graph.id] {
            entries[graph.id] = (existing.graph, clock)
            return
        }
        while !entries.isEmpty, entries.count >= capacity || bytes + graph.byteCount > maxBytes,
            let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })
        {
            bytes -= oldest.value.graph.byteCount
            entries[oldest.key] = nil
        }
        entries[graph.id] = (graph, clock)
        bytes += graph.byteCount
    }

    /// The graph registered as `id`, marking it recently used.
    func graph(_ id: String) -> RegisteredGraph? {
        guard let entry = entries[id] else { return nil }
        clock += 1
        entries[id] = (entry.graph, clock)
        return entry.graph
    }
}
