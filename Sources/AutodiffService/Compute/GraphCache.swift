import AutodiffCore
import Foundation
import Synchronization

/// A registered graph: validated once, kept with its canonical JSON.
struct RegisteredGraph: Sendable {
    /// `sha256-<hex>` of `canonicalJSON`.
    let id: String
    let graph: Graph
    /// The canonical form, served by `GET /v1/graphs/{id}`.
    let canonicalJSON: [UInt8]
    let nodeCount: Int
    /// What the entry costs to keep (`GraphCache.keepingCost`).
    let byteCount: Int
}

/// The validated graphs of this process: the registered ones, and those recent calls sent inline.
///
/// **Registered graphs** are bounded both by entries and by bytes, so large constants cannot make
/// registration a way to fill memory. Entries hold the validated `Graph`, so calls by `graph_id` skip
/// parsing and validation. Nothing is shared between replicas: a replica that does not hold an id
/// answers 404 `graph_not_found` and the client registers the graph again, which is cheap and
/// idempotent because the id is the hash of the graph's canonical form.
///
/// **Inline graphs** are kept by the exact bytes of the request's `"graph"` member, so a client that
/// sends the same graph text with every call (the usual way) gets its graph parsed and validated
/// once, like a registered one. The text is compared byte for byte, never by its hash alone, and
/// under the same limits, so a reused graph is exactly what parsing the text again would give. They
/// have bounds of their own, so inline calls never evict a registered graph.
///
/// Locks rather than an actor, so a worker can look a graph up in the middle of its job without
/// hopping back to the event loop.
final class GraphCache: Sendable {
    private let registered: Mutex<LRUList<String, RegisteredGraph>>
    private let inline: Mutex<LRUList<Int, InlineGraph>>

    /// A graph sent inline, with the text and the limits it was validated from.
    private struct InlineGraph {
        let text: [UInt8]
        let limits: Limits
        let graph: Graph
    }

    /// Bounds on inline graphs: entries, and bytes as `keepingCost` counts them.
    static let inlineCapacity = 64
    static let inlineMaxBytes = 64 << 20

    /// What keeping a graph validated from `textBytes` of JSON costs in memory, estimated as six times
    /// the text: the text itself, and the validated graph. Measured on 600 registered 2,000-node
    /// chains, a graph took 4.4 times its text in all; the densest texts (one-letter names, constants
    /// written `0,`, which become 8 bytes each) stay under six.
    static func keepingCost(textBytes: Int) -> Int {
        let (bytes, overflow) = textBytes.multipliedReportingOverflow(by: 6)
        return overflow ? .max : bytes
    }

    init(capacity: Int, maxBytes: Int) {
        registered = Mutex(LRUList(capacity: capacity, maxBytes: maxBytes))
        inline = Mutex(LRUList(capacity: Self.inlineCapacity, maxBytes: Self.inlineMaxBytes))
    }

    /// Registered graphs held.
    var count: Int { registered.withLock { $0.count } }

    /// Stores `graph`, evicting least recently used entries until both bounds hold.
    func insert(_ graph: RegisteredGraph) throws(AutodiffError) {
        try registered.withLock { (list) throws(AutodiffError) in
            guard graph.byteCount <= list.maxBytes else {
                throw .limitExceeded(
                    "the graph needs \(graph.byteCount) bytes to keep; registered graphs may use at most "
                        + "\(list.maxBytes) (--graph-cache-bytes); send it inline with each call instead")
            }
            list.insert(graph, for: graph.id, bytes: graph.byteCount)
        }
    }

    /// The graph a call names: its inline graph, or the one registered as its `graph_id`
    /// (`404 graph_not_found` when this process does not hold it).
    func graph(for source: GraphSource) throws(APIError) -> Graph {
        switch source {
        case .inline(let graph): return graph
        case .registered(let id):
            guard let registered = graph(id) else { throw .graphNotFound(id) }
            return registered.graph
        }
    }

    /// The graph registered as `id`, marking it recently used.
    func graph(_ id: String) -> RegisteredGraph? {
        registered.withLock { $0.use(id) }
    }

    /// The graph validated earlier, under `limits`, from exactly the bytes of `text`.
    func inlineGraph(_ text: UnsafeBufferPointer<UInt8>, limits: Limits) -> Graph? {
        let key = Self.key(text)
        return inline.withLock { list -> Graph? in
            guard let kept = list.use(key), kept.limits == limits, kept.text.count == text.count,
                let given = text.baseAddress
            else { return nil }
            let same = kept.text.withUnsafeBytes { kept in
                kept.baseAddress.map { memcmp($0, given, text.count) == 0 } ?? false
            }
            return same ? kept.graph : nil
        }
    }

    /// Keeps `graph`, validated under `limits` from `text`, for calls that send the same text.
    func keepInline(_ graph: Graph, text: ArraySlice<UInt8>, limits: Limits) {
        let bytes = Self.keepingCost(textBytes: text.count)
        guard bytes <= Self.inlineMaxBytes else { return }
        let kept = InlineGraph(text: Array(text), limits: limits, graph: graph)
        let key = kept.text.withUnsafeBufferPointer(Self.key)
        inline.withLock { $0.insert(kept, for: key, bytes: bytes) }
    }

    /// The text's hash under the process's random seed: clients cannot aim two texts at one key, and
    /// if two texts share one anyway, the later replaces the earlier.
    private static func key(_ text: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(text))
        return hasher.finalize()
    }
}
