import Testing

@testable import AutodiffService

/// The allocator settings `autodiffd` makes at start-up, and the operator's `GLIBC_TUNABLES` winning.
@Suite struct MallocPolicyTests {
    @Test func bothSettingsAreMadeWhenTheOperatorGivesNone() {
        let tunables = MallocPolicy.settings(environment: [:]).map(\.tunable)
        #expect(tunables == ["glibc.malloc.mmap_max", "glibc.malloc.trim_threshold"])
        #expect(MallocPolicy.defaults.map(\.value) == [0, 256 << 20])
        let unrelated = [
            "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1:glibc.pthread.rseq=0"
        ]
        #expect(MallocPolicy.settings(environment: unrelated) == MallocPolicy.defaults)
    }

    @Test(arguments: [
        ("glibc.malloc.trim_threshold=0", ["glibc.malloc.mmap_max"]),
        ("glibc.malloc.mmap_max=65536", ["glibc.malloc.trim_threshold"]),
        ("glibc.malloc.arena_max=2:glibc.malloc.mmap_max=1:glibc.malloc.trim_threshold=1", []),
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
