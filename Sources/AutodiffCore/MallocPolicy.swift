#if canImport(Glibc)
import Glibc
#endif

/// How glibc's allocator keeps the memory a call frees, set once at start-up by `autodiffd` (and by
/// `autodiffd-bench`, so its figures are those of the same allocator).
///
/// By default glibc serves each block of 128 KiB or more (a threshold it raises up to 32 MiB as it
/// goes) with an `mmap` of its own, unmapped again when freed, and gives a heap's free top back to
/// the kernel. A large call allocates tens of megabytes (the body, decoded tensors, results, the
/// response, whose `ByteBuffer` is rounded up to a power of two: 32 MiB for `big_base64`) and frees
/// them at its end, so the next call faulted every page in again: a third of `big_base64`'s CPU.
/// Most of a call's memory is not in glibc's main heap but in the per-thread heaps of the threads
/// that allocate it (the body on a request task's thread, tensors and the response on a worker).
/// Those heaps are `mmap`ed pieces of at most 64 MiB, and glibc unmaps a piece whenever a call's frees
/// empty it, whatever the trim threshold, unless the top pad asks it to keep 64 MiB spare.
/// `autodiffd` therefore sets
///
/// ```
/// M_MMAP_MAX       = 0         every block comes from a heap, where the next call reuses it
/// M_TRIM_THRESHOLD = 256 MiB   a heap's free top is kept up to this size
/// M_TOP_PAD        = 64 MiB    a per-thread heap emptied by a call is kept, not unmapped
/// ```
///
/// The price: the process keeps heap it has freed, up to its peak in each thread's heap, instead of
/// returning it; and each heap grows in steps of 64 MiB of address space (pages are only backed by
/// memory once written). A block of 64 MiB or more does not fit a per-thread heap and still gets an
/// `mmap` of its own there. Any of the values set by the operator in `GLIBC_TUNABLES`
/// (`glibc.malloc.mmap_max`, `glibc.malloc.trim_threshold`, `glibc.malloc.top_pad`) is left as the
/// operator set it, e.g. `GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072:glibc.malloc.top_pad=131072`
/// to return freed memory at once.
public enum MallocPolicy {
    /// One `mallopt` setting.
    public struct Setting: Equatable, Sendable {
        /// The `GLIBC_TUNABLES` name of the same setting, which wins when the operator gives it.
        public let tunable: String
        public let option: Int32
        public let value: Int32
    }

    /// The settings `autodiffd` makes, before the operator's `GLIBC_TUNABLES` are taken out.
    public static let defaults: [Setting] = [
        Setting(tunable: "glibc.malloc.mmap_max", option: Option.mmapMax, value: 0),
        Setting(tunable: "glibc.malloc.trim_threshold", option: Option.trimThreshold, value: 256 << 20),
        Setting(tunable: "glibc.malloc.top_pad", option: Option.topPad, value: 64 << 20),
    ]

    /// The settings to make under `environment`: the defaults the operator did not set in `GLIBC_TUNABLES`
    /// (colon-separated `name=value` pairs).
    public static func settings(environment: [String: String]) -> [Setting] {
        let given = Set(
            (environment["GLIBC_TUNABLES"] ?? "").split(separator: ":").map { pair in
                String(pair.prefix { $0 != "=" })
            })
        return defaults.filter { !given.contains($0.tunable) }
    }

    /// Makes the settings for `environment`; returns those glibc accepted (none off glibc).
    @discardableResult
    public static func apply(environment: [String: String]) -> [Setting] {
        #if canImport(Glibc)
        // `mallopt` is in <malloc.h>, which the Glibc module does not export.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "mallopt") else { return [] }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        return settings(environment: environment).filter { mallopt($0.option, $0.value) == 1 }
        #else
        return []
        #endif
    }

    /// The options' numbers in <malloc.h>.
    private enum Option {
        static let trimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
        static let topPad: Int32 = -2  // M_TOP_PAD
        static let mmapMax: Int32 = -4  // M_MMAP_MAX
    }
}
