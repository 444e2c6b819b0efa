import Testing

@testable import AutodiffCore

/// The arena layout of a compiled evaluation: a place given back is handed out again only for a
/// value of its size, and never while another value holds it.
@Suite("Arena layout")
struct ArenaLayoutTests {
    @Test("places taken, given back and kept never overlap while held, and free places of a size are reused")
    func placesNeverOverlapWhileHeld() {
        var rng = SplitMix64(label: "arena layout")
        var layout = ArenaLayout()
        // What holds each element of the arena now: "free", "held" or "kept" (permanent), by offset.
        var state: [String] = []
        var held: [(offset: Int, count: Int)] = []
        var freeOfSize: [Int: Int] = [:]
        let sizes = [1, 16, 16, 16, 3, 256, 0, 7]
        for step in 0..<4_000 {
            let roll = rng.next() % 10
            if roll < 4, !held.isEmpty {
                let (offset, count) = held.remove(at: Int(rng.next() % UInt64(held.count)))
                layout.give(offset, count)
                for element in offset..<(offset + count) { state[element] = "free" }
                freeOfSize[count, default: 0] += 1
                continue
            }
            let count = sizes[Int(rng.next() % UInt64(sizes.count))]
            let before = layout.size
            let offset = roll == 9 ? layout.permanent(count) : layout.take(count)
            let reused = roll != 9 && freeOfSize[count, default: 0] > 0
            if reused {
                #expect(layout.size == before, "step \(step): a free place of \(count) elements was not reused")
                freeOfSize[count, default: 0] -= 1
            } else {
                #expect(offset == before && layout.size == before + count, "step \(step): a new place is at the end")
            }
            if state.count < layout.size { state += Array(repeating: "free", count: layout.size - state.count) }
            for element in offset..<(offset + count) {
                #expect(state[element] == "free", "step \(step): element \(element) is \(state[element]) already")
                state[element] = roll == 9 ? "kept" : "held"
            }
            if roll != 9 { held.append((offset, count)) }
        }
    }
}
