/// Values in order of use, most recent first, bounded by entries and by the bytes each costs to keep.
///
/// Every operation is O(1) but eviction's loop: entries sit in a doubly linked list in order of use
/// (slots of an array, linked by index), eviction takes the list's tail, and slots freed by eviction
/// are reused. Not synchronised: its owner keeps it behind a lock.
struct LRUList<Key: Hashable, Value> {
    private struct Slot {
        var entry: (key: Key, value: Value, bytes: Int)?
        var newer = -1
        var older = -1
    }

    let capacity: Int
    let maxBytes: Int
    private var slots: [Slot] = []
    private var slotOf: [Key: Int] = [:]
    private var free: [Int] = []
    private var head = -1
    private var tail = -1
    private(set) var bytes = 0

    init(capacity: Int, maxBytes: Int) {
        self.capacity = max(1, capacity)
        self.maxBytes = max(1, maxBytes)
    }

    var count: Int { slotOf.count }

    /// The value kept for `key`, which becomes the most recently used.
    mutating func use(_ key: Key) -> Value? {
        guard let slot = slotOf[key] else { return nil }
        if slot != head {
            unlink(slot)
            link(slot)
        }
        return slots[slot].entry?.value
    }

    /// Keeps `value` for `key` as the most recently used, in place of any value `key` had, evicting
    /// the least recently used until both bounds hold. The caller checks `bytes <= maxBytes` first.
    mutating func insert(_ value: Value, for key: Key, bytes size: Int) {
        remove(key)
        while count >= capacity || bytes + size > maxBytes, tail >= 0 {
            remove(at: tail)
        }
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            slots[slot] = Slot(entry: (key, value, size))
        } else {
            slot = slots.count
            slots.append(Slot(entry: (key, value, size)))
        }
        slotOf[key] = slot
        bytes += size
        link(slot)
    }

    mutating func remove(_ key: Key) {
        if let slot = slotOf[key] { remove(at: slot) }
    }

    private mutating func remove(at slot: Int) {
        guard let entry = slots[slot].entry else { return }
        unlink(slot)
        slots[slot] = Slot()
        free.append(slot)
        slotOf[entry.key] = nil
        bytes -= entry.bytes
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
