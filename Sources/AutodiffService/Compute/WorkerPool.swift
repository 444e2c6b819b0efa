import Dispatch
import Synchronization

/// A bounded pool of Dispatch workers for CPU-bound work, with admission control in front.
///
/// At most `workers` jobs run at once, on a private concurrent Dispatch queue: never on a NIO event
/// loop and never on a Swift-concurrency cooperative thread. A call is *admitted* before it does any
/// work; at most `workers + queueDepth` calls are admitted at once, and past that `admit` fails at
/// once with `WorkerPool.Full`, which the service answers with `503 overloaded` and `Retry-After`.
/// An admitted call may run several jobs in turn (parse, then compute) and is never refused between
/// them, so no work is thrown away half done. Callers suspend on a continuation while a job runs.
public final class WorkerPool: Sendable {
    /// Every worker is busy and the wait queue is full.
    public struct Full: Error, Equatable {}

    public let workers: Int
    public let queueDepth: Int

    private struct State {
        var admitted = 0
        var running = 0
        var waiting: [@Sendable () -> Void] = []
        var head = 0

        var waitingCount: Int { waiting.count - head }

        mutating func dequeue() -> (@Sendable () -> Void)? {
            guard head < waiting.count else { return nil }
            let job = waiting[head]
            head += 1
            if head > 64, head * 2 > waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            return job
        }
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "autodiffd.workers", attributes: .concurrent)

    public init(workers: Int, queueDepth: Int) {
        self.workers = max(1, workers)
        self.queueDepth = max(0, queueDepth)
    }

    /// Jobs running now and jobs waiting for a worker.
    public var load: (running: Int, waiting: Int) {
        state.withLock { ($0.running, $0.waitingCount) }
    }

    /// Runs `call` if fewer than `workers + queueDepth` calls are admitted, else throws `Full` at once.
    public func admit<T>(_ call: () async throws -> T) async throws -> T {
        let capacity = workers + queueDepth
        let admitted = state.withLock { state -> Bool in
            guard state.admitted < capacity else { return false }
            state.admitted += 1
            return true
        }
        guard admitted else { throw Full() }
        defer { state.withLock { $0.admitted -= 1 } }
        return try await call()
    }

    /// Runs `work` on a worker, waiting for one if all are busy, and returns its result.
    /// Its wait is bounded by admission: each admitted call has at most one job here at a time.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job: @Sendable () -> Void = {
                continuation.resume(with: Result { try work() })
            }
            let startNow = state.withLock { state -> Bool in
                if state.running < workers {
                    state.running += 1
                    return true
                }
                state.waiting.append(job)
                return false
            }
            if startNow { start(job) }
        }
    }

    /// Runs `job`, then the next waiting job on the same worker slot, until none waits.
    private func start(_ job: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            var next: (@Sendable () -> Void)? = job
            while let current = next {
                current()
                next = state.withLock { state in
                    if let queued = state.dequeue() { return queued }
                    state.running -= 1
                    return nil
                }
            }
        }
    }
}
