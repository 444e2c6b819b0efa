import Dispatch
import Synchronization

/// A bounded pool of Dispatch workers for CPU-bound work, with a bounded wait queue in front.
///
/// At most `workers` jobs run at once, on a private concurrent Dispatch queue: never on a NIO event
/// loop and never on a Swift-concurrency cooperative thread. Up to `queueDepth` more jobs wait their
/// turn; past that `run` fails at once with `WorkerPool.Full`, which the service answers with
/// `503 overloaded` and `Retry-After`. Callers suspend on a continuation until their job finishes.
public final class WorkerPool: Sendable {
    /// The pool and its wait queue are full.
    public struct Full: Error, Equatable {}

    public let workers: Int
    public let queueDepth: Int

    private struct State {
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

    /// Jobs running now and jobs waiting; for logs and tests.
    public var load: (running: Int, waiting: Int) {
        state.withLock { ($0.running, $0.waitingCount) }
    }

    /// Runs `work` on a worker and returns its result, or throws `Full` without waiting.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job: @Sendable () -> Void = {
                continuation.resume(with: Result { try work() })
            }
            let admitted = state.withLock { state -> Bool? in
                if state.running < workers {
                    state.running += 1
                    return true
                }
                guard state.waitingCount < queueDepth else { return nil }
                state.waiting.append(job)
                return false
            }
            switch admitted {
            case true?: start(job)
            case false?: break
            case nil: continuation.resume(throwing: Full())
            }
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
