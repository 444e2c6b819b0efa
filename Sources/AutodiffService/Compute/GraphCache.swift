import AutodiffCore
import Synchronization

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
///
/// A lock rather than an actor, so a worker can look a graph up in the middle of its job without
/// hopping back to the event loop. Every operation is O(1): entries sit in a doubly linked list in
/// order of use (slots of an array, linked by index), and eviction takes the list's tail.
final class GraphCache: Sendable {
    let capacity: Int
    let maxBytes: Int
    private let state: Mutex<LRUList>

    init(capacity: Int, maxBytes: Int) {
        self.capacity = max(1, capacity)
        self.maxBytes = max(1, maxBytes)
        state = Mutex(LRUList())
    }

    var count: Int { state.withLock { $0.slotOf.count } }

    /// Stores `graph`, evicting least recently used entries until both bounds hold.
    func insert(_ graph: RegisteredGraph) throws(AutodiffError) {
        guard graph.byteCount <= maxBytes else {
            throw .limitExceeded(
                "the graph needs \(graph.byteCount) bytes to keep; registered graphs may use at most \(maxBytes) "
                    + "(--graph-cache-bytes); send it inline with each call instead")
        }
        state.withLock { list in
            if let slot = list.slotOf[graph.id] {
                list.moveToFront(slot)
                return
            }
            while list.slotOf.count >= capacity || list.bytes + graph.byteCount > maxBytes {
                guard list.removeLeastRecent() else { break }
            }
            list.insertAtFront(graph)
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
        state.withLock { list in
            guard let slot = list.slotOf[id] else { return nil }
            list.moveToFront(slot)
            return list.slots[slot].graph
        }
    }
}

/// Entries in order of use, most recent at `head`. Slots freed by eviction are reused.
private struct LRUList {
    struct Slot {
        var graph: RegisteredGraph?
        var newer = -1
        var older = -1
    }

    var slots: [Slot] = []
    var slotOf: [String: Int] = [:]
    var free: [Int] = []
    var head = -1
    var tail = -1
    var bytes = 0

    mutating func insertAtFront(_ graph: RegisteredGraph) {
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            slots[slot] = Slot(graph: graph)
        } else {
            slot = slots.count
            slots.append(Slot(graph: graph))
        }
        slotOf[graph.id] = slot
        bytes += graph.byteCount
        link(slot)
    }

    mutating func moveToFront(_ slot: Int) {
        guard slot != head else { return }
        unlink(slot)
        link(slot)
    }

    /// Removes the tail entry; `false` when the list is empty.
    mutating func removeLeastRecent() -> Bool {
        guard tail >= 0, let graph = slots[tail].graph else { return false }
        let slot = tail
        unlink(slot)
        slots[slot] = Slot()
        free.append(slot)
        slotOf[graph.id] = nil
        bytes -= graph.byteCount
        return true
    }

    private mutating func link(_ slot: Int) {
        slots[slot].older = head
        slots[slot].newer = -1
        if head >= 0 { slots[head].newer = slot }
        head = slot
        if tail < 0 { tail = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let newer = slots[slot].newer
        let older = slots[slot].older
        if newer >= 0 { slots[newer].older = older } else { head = older }
        if older >= 0 { slots[older].newer = newer } else { tail = newer }
    }
}
