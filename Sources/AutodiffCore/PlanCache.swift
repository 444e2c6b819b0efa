import Synchronization

/// Prepared programs of recent calls, so a call whose graph, input shapes, request and limits were
/// seen before skips validation against the shapes, differentiation and planning, and goes straight
/// to running kernels.
///
/// Keys hold the graph's `Fingerprint`, never its values, so one graph called with new input values
/// (or new seeds, tangents, vectors) hits the same entry. Bounded by entries and by the slots the
/// kept programs hold together; the least recently used go first. Safe to share between workers.
public final class PlanCache: Sendable {
    public let capacity: Int
    public let maxSlots: Int

    private struct Entry {
        let value: any Sendable
        let slots: Int
        var lastUse: UInt64
    }

    private struct State {
        var entries: [PlanKey: Entry] = [:]
        var slots = 0
        var clock: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    private let state = Mutex(State())

    /// At most `capacity` programs holding at most `maxSlots` nodes and inputs together. A slot of a
    /// kept program costs a few hundred bytes (its node, name, shape and kernel plan), so the default
    /// bound keeps the cache near 100 MB at most.
    public init(capacity: Int = 64, maxSlots: Int = PlanCache.defaultMaxSlots) {
        self.capacity = max(1, capacity)
        self.maxSlots = max(1, maxSlots)
    }

    public static let defaultMaxSlots = 262_144

    /// The slot bound for a server that accepts graphs of up to `maxNodes` nodes: the default, or
    /// 5 slots a node where that is more. The program of a backward call holds 3 to 4 slots a node
    /// (the node and its derivative's), so a repeated call on a graph of the largest size reuses
    /// its program instead of compiling it again (a 100,000-node chain: 155 → 50 ms end to end).
    public static func maxSlots(forGraphsOf maxNodes: Int) -> Int {
        let (slots, overflow) = maxNodes.multipliedReportingOverflow(by: 5)
        return overflow ? Int.max : max(defaultMaxSlots, slots)
    }

    /// Elements of a kept program's constants that count as one slot (8 bytes each against the few
    /// hundred of a slot). Without them, programs holding constants of megabytes each were kept 64 at a
    /// time whatever their size: 64 calls of a new 12 MB constant each kept 768 MB.
    static let constantElementsPerSlot = 50

    /// What a program of `graph` holds, in slots: its slots, and its constants' elements.
    static func slots(of graph: Graph) -> Int {
        let elements = graph.constants.reduce(0) { $0 + $1.count }
        return elements / constantElementsPerSlot + graph.slotCount
    }

    /// Lookups that found a prepared program, and those that had to prepare one.
    public var statistics: (hits: Int, misses: Int) {
        state.withLock { ($0.hits, $0.misses) }
    }

    /// The value prepared for `key`, or `prepare()`'s, which is then kept (unless larger than the cache).
    func value<T: Sendable>(
        _ key: PlanKey, slots: (T) -> Int, prepare: () throws(AutodiffError) -> T
    ) throws(AutodiffError) -> T {
        let cached = state.withLock { state -> T? in
            state.clock += 1
            guard let entry = state.entries[key], let value = entry.value as? T else {
                state.misses += 1
                return nil
            }
            state.entries[key]?.lastUse = state.clock
            state.hits += 1
            return value
        }
        if let cached { return cached }
        // Prepared outside the lock: two workers may prepare the same key at once, which is harmless.
        let value = try prepare()
        let size = slots(value)
        guard size <= maxSlots else { return value }
        state.withLock { state in
            if let replaced = state.entries[key] { state.slots -= replaced.slots }
            state.entries[key] = Entry(value: value, slots: size, lastUse: state.clock)
            state.slots += size
            while state.entries.count > capacity || state.slots > maxSlots,
                let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })
            {
                state.slots -= oldest.value.slots
                state.entries[oldest.key] = nil
            }
        }
        return value
    }
}

/// What a prepared program depends on besides input values.
struct PlanKey: Hashable, Sendable {
    enum Call: Hashable, Sendable {
        case forward(outputs: [String])
        case backward(outputs: [String], wrt: [String]?, batched: Bool, returnGraph: Bool)
    }

    let graph: Fingerprint
    let inputShapes: [[Int]]
    let call: Call
    let limits: Limits
}
