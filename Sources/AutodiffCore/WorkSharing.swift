import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Lets a job running on a worker thread of a pool hand part of its work to another worker of the
/// same pool while that one is idle, so a lone big call uses more than one core. The pool marks its
/// threads (`serve`); everywhere else `share` does only its own part.
public enum WorkSharing {
    /// Runs `here` on the calling thread while an idle worker, if there is one, runs `there`: part
    /// of the same job's work, independent of `here`'s. Returns once both are done, true when
    /// another worker ran `there`. When the calling thread is not a pool's worker, when its pool has
    /// no idle worker right now, or when no worker has started `there` by the time `here` is done,
    /// `there` never runs and the result is false: the caller does that part itself.
    ///
    /// So sharing never waits for a busy pool, and the caller waits only for a part already running.
    public static func share(_ there: @escaping @Sendable () -> Void, while here: () -> Void) -> Bool {
        guard let workers = current else {
            here()
            return false
        }
        let part = SharedPart(there)
        guard workers.offer(part) else {
            here()
            return false
        }
        here()
        if workers.takeBack(part) { return false }
        part.wait()
        return true
    }

    /// The most work (elements times steps per element) of the part `shareHalves` offers at a time:
    /// a few milliseconds, which is as long as a call arriving meanwhile waits for the worker.
    public static let partWork = 1 << 20

    /// Runs `body` on `0..<count` a span at a time, each span of `span` elements (rounded down to
    /// a multiple of `alignment`, at least two) cut in two halves at a multiple of `alignment`: the
    /// first (`half` 0) here, the second (`half` 1) on an idle worker if there is one (`share`),
    /// else here after the first. True when every call returned true; false, having stopped, after
    /// a span where one did not or before a span once `deadline` has passed. A worker helping holds
    /// at most half a span, so a job queued meanwhile waits for no more than that (one half of the
    /// whole of a long fused group held it for seconds). `body` is let go before this returns, so it
    /// never outlives the call (Swift checks that of a closure it let escape for the while).
    public static func shareHalves(
        of count: Int, alignment: Int = 1, span: Int = 2 * partWork, deadline: ContinuousClock.Instant?,
        _ body: (_ range: Range<Int>, _ half: Int) -> Bool
    ) -> Bool {
        let span = Swift.max(span / alignment, 2) * alignment
        return withoutActuallyEscaping(body) { body in
            var start = 0
            while start < count {
                if start > 0, let deadline, ContinuousClock.now > deadline { return false }
                let end = count - start <= span ? count : start + span
                let cut = start + (end - start) / 2 / alignment * alignment
                let second = SecondHalf(cut..<end, body)
                var firstFinished = true
                let shared = share({ second.run() }) { firstFinished = body(start..<cut, 0) }
                if !shared { second.run() }
                guard firstFinished && second.finished else { return false }
                start = end
            }
            return true
        }
    }

    /// Runs `body` (a worker thread's loop) with the calling thread marked as a worker of `workers`.
    public static func serve(_ workers: any IdleWorkers, _ body: () -> Void) {
        let marked = Unmanaged.passRetained(Marked(workers))
        pthread_setspecific(key, marked.toOpaque())
        defer {
            pthread_setspecific(key, nil)
            marked.release()
        }
        body()
    }

    /// The pool whose worker runs the calling thread, nil on any other thread.
    private static var current: (any IdleWorkers)? {
        pthread_getspecific(key).map { Unmanaged<Marked>.fromOpaque($0).takeUnretainedValue().workers }
    }

    /// The thread-specific slot where each worker thread keeps its pool.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    private final class Marked {
        let workers: any IdleWorkers

        init(_ workers: any IdleWorkers) {
            self.workers = workers
        }
    }
}

/// The second half of a `WorkSharing.shareHalves`, run once by whichever thread takes it, which
/// then lets go of the body.
private final class SecondHalf: @unchecked Sendable {
    private let range: Range<Int>
    private var body: ((Range<Int>, Int) -> Bool)?
    private(set) var finished = false

    init(_ range: Range<Int>, _ body: @escaping (Range<Int>, Int) -> Bool) {
        self.range = range
        self.body = body
    }

    func run() {
        guard let body else { return }
        self.body = nil
        finished = body(range, 1)
    }
}

/// The workers of a pool, as `WorkSharing` sees them.
public protocol IdleWorkers: AnyObject, Sendable {
    /// Queues `part` for a worker if one is idle now (and no job is about to want it); false, and
    /// not queued, otherwise. The worker that takes it calls `part.run()`.
    func offer(_ part: SharedPart) -> Bool
    /// Withdraws `part` if no worker has started it: true when it never runs.
    func takeBack(_ part: SharedPart) -> Bool
}

/// Part of a job offered to an idle worker by `WorkSharing.share`.
public final class SharedPart: Sendable {
    private let work: @Sendable () -> Void
    /// Signalled once the part has run.
    private let finished = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () -> Void) {
        self.work = work
    }

    /// Runs the part; called once, by the worker that took it.
    public func run() {
        work()
        finished.signal()
    }

    func wait() {
        finished.wait()
    }
}
