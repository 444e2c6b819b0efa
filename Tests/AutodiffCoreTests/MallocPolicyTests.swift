import Foundation
import Synchronization
import Testing

@testable import AutodiffCore

/// The allocator settings `autodiffd` makes at start-up, and the operator's `GLIBC_TUNABLES` winning.
@Suite struct MallocPolicyTests {
    @Test func everySettingIsMadeWhenTheOperatorGivesNone() {
        let tunables = MallocPolicy.settings(environment: [:]).map(\.tunable)
        #expect(tunables == ["glibc.malloc.mmap_max", "glibc.malloc.trim_threshold", "glibc.malloc.top_pad"])
        #expect(MallocPolicy.defaults.map(\.value) == [0, 256 << 20, 64 << 20])
        let unrelated = [
            "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1:glibc.pthread.rseq=0"
        ]
        #expect(MallocPolicy.settings(environment: unrelated) == MallocPolicy.defaults)
    }

    @Test(arguments: [
        ("glibc.malloc.trim_threshold=0", ["glibc.malloc.mmap_max", "glibc.malloc.top_pad"]),
        ("glibc.malloc.mmap_max=65536", ["glibc.malloc.trim_threshold", "glibc.malloc.top_pad"]),
        ("glibc.malloc.top_pad=131072", ["glibc.malloc.mmap_max", "glibc.malloc.trim_threshold"]),
        ("glibc.malloc.arena_max=2:glibc.malloc.mmap_max=1:glibc.malloc.trim_threshold=1:glibc.malloc.top_pad=0", []),
    ])
    func tunablesTheOperatorSetAreLeftAlone(_ tunables: String, _ kept: [String]) {
        let settings = MallocPolicy.settings(environment: ["GLIBC_TUNABLES": tunables])
        #expect(settings.map(\.tunable) == kept)
    }

    #if canImport(Glibc)
    @Test func glibcAcceptsTheSettings() {
        #expect(MallocPolicy.apply(environment: [:]) == MallocPolicy.defaults)
    }
    #endif
}

#if canImport(Glibc)
/// What the settings are for: the memory a big call frees on a worker thread is there for the next
/// call, not given back to the kernel and faulted in again page by page.
@Suite struct MallocPolicyReuseTests {
    /// Blocks like a big call's tensors and response: together more than one 64 MiB per-thread heap.
    static let blocks = [24 << 20, 24 << 20, 24 << 20]

    @Test func aCallsFreedMemoryIsReusedByTheNextWithoutPageFaults() throws {
        try #require(!(ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? "").contains("glibc.malloc"))
        MallocPolicy.apply(environment: [:])
        let faults = try #require(
            Self.onANewThread { () -> [Int] in
                // The same call twice: the first may find fresh memory, the second finds what the first freed.
                (0..<2).map { _ in Self.minorFaults { Self.allocateTouchAndFree(Self.blocks) } }
            })
        let pages = Self.blocks.reduce(0, +) / Int(sysconf(Int32(_SC_PAGESIZE)))
        #expect(faults[1] < pages / 10, "the second call took \(faults[1]) page faults for \(pages) pages")
    }

    /// Allocates every block, writes every byte of each, then frees them all, as a call does.
    static func allocateTouchAndFree(_ sizes: [Int]) {
        let blocks = sizes.map { size in
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            memset(block, 0x5A, size)
            return block
        }
        for block in blocks { block.deallocate() }
    }

    /// `RUSAGE_THREAD` of <sys/resource.h>, a GNU extension the Glibc module does not export.
    static let rusageThread: Int32 = 1

    /// Minor page faults this thread took while running `body`.
    static func minorFaults(_ body: () -> Void) -> Int {
        var before = rusage()
        var after = rusage()
        getrusage(rusageThread, &before)
        body()
        getrusage(rusageThread, &after)
        return after.ru_minflt - before.ru_minflt
    }

    /// `body`'s result, run on a new thread (as the pool's workers are), which glibc gives a heap of its own.
    static func onANewThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T? {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let value = body()
            result.withLock { $0 = value }
            done.signal()
        }.start()
        done.wait()
        return result.withLock { $0 }
    }
}
#endif
