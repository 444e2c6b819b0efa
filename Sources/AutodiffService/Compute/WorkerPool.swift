import AutodiffCore
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of worker threads for CPU-bound work, with admission control in front.
///
/// At most `workers` jobs run at once, each on one of the pool's own threads: never on a NIO event
/// loop and never on a Swift-concurrency cooperative thread. The threads may run at a lower scheduling
/// priority (`nice` +`niceness`; the server uses +10), so event loops and probes get the CPU first
/// when every worker is busy. A call is *admitted* before it does any work; at most `workers + queueDepth` calls are
/// admitted at once, and past that `admit` fails at once with `WorkerPool.Full`, which the service
/// answers with `503 overloaded` and `Retry-After`. An admitted call may run several jobs in turn
/// (parse, then compute) and is never refused between them, so no work is thrown away half done.
///
/// Callers suspend on a continuation while a job waits or runs. A caller whose task is cancelled
/// while its job still waits (its client went away) drops the job: it never runs. `stop()` ends
/// every wait at once with `Stopped` (the drain's last step); jobs already running finish on
/// their threads, and their results are dropped.
public final class WorkerPool: Sendable {
    /// Every worker is busy and the wait queue is full.
    public struct Full: Error, Equatable {}
    /// The pool was stopped; the job did not run, or its result came too late.
    public struct Stopped: Error, Equatable {}

    public let workers: Int
    public let queueDepth: Int
    private let jobs: JobQueue

    public init(workers: Int, queueDepth: Int, niceness: Int32 = 0) {
        self.workers = max(1, workers)
        self.queueDepth = max(0, queueDepth)
        jobs = JobQueue(workers: self.workers)
        for index in 0..<self.workers {
            let thread = Thread { [jobs] in jobs.serve(niceness: niceness) }
            thread.name = "autodiffd-w\(index)"  // Linux keeps 15 characters
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    deinit {
        jobs.close(threads: workers)
    }

    /// Jobs running now and jobs waiting for a worker.
    public var load: (running: Int, waiting: Int) {
        jobs.state.withLock { ($0.running, $0.waiting.count) }
    }

    /// Runs `call` if fewer than `workers + queueDepth` calls are admitted, else throws `Full` at once.
    public func admit<T>(_ call: () async throws -> T) async throws -> T {
        let capacity = workers + queueDepth
        let admitted = jobs.state.withLock { state -> Bool in
            guard state.admitted < capacity else { return false }
            state.admitted += 1
            return true
        }
        guard admitted else { throw Full() }
        defer { jobs.state.withLock { $0.admitted -= 1 } }
        return try await call()
    }

    /// Runs `work` on a worker, waiting for one if all are busy, and returns its result.
    /// Its wait is bounded by admission: each admitted call has at most one job here at a time.
    /// Throws `CancellationError` if the task is cancelled before the job starts, `Stopped` after `stop()`.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(droppedWhenGone: nil, work)
    }

    /// `run(_:)`, also dropping the job (`CancellationError`) if `client` leaves before it starts.
    func run<T: Sendable>(
        droppedWhenGone client: ClientPresence?, _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        let ticket = jobs.state.withLock { state in
            state.nextTicket += 1
            return state.nextTicket
        }
        let departure = client?.whenGone { [jobs] in jobs.drop(ticket) }
        defer {
            client?.forget(departure)
            jobs.state.withLock { _ = $0.cancelledEarly.remove(ticket) }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let reply = Reply(continuation)
                let job: @Sendable () -> Void = { [jobs] in
                    reply.resume(Result { try work() })
                    jobs.state.withLock { _ = $0.pending.removeValue(forKey: ticket) }
                }
                let refusal = jobs.state.withLock { state -> (any Error)? in
                    if state.stopped { return Stopped() }
                    if state.cancelledEarly.contains(ticket) { return CancellationError() }
                    state.pending[ticket] = { reply.resume(.failure($0)) }
                    state.waiting[ticket] = job
                    state.order.append(ticket)
                    return nil
                }
                if let refusal {
                    reply.resume(.failure(refusal))
                } else {
                    jobs.available.signal()
                }
            }
        } onCancel: { [jobs] in
            jobs.drop(ticket)
        }
    }

    /// Ends every waiting and running job's wait with `Stopped`, and refuses new jobs.
    public func stop() {
        let waiters = jobs.state.withLock { state in
            state.stopped = true
            state.waiting.removeAll()
            state.order.removeAll()
            state.head = 0
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for fail in waiters { fail(Stopped()) }
    }

    /// How many shared parts of jobs (`WorkSharing.share`) this pool's workers have taken.
    var helped: Int {
        jobs.state.withLock { $0.helped }
    }
}

/// Resumes a continuation once: with the job's result, or earlier with an error (cancelled, stopped).
private final class Reply<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ result: Result<T, any Error>) {
        let continuation = self.continuation.withLock { continuation in
            defer { continuation = nil }
            return continuation
        }
        continuation?.resume(with: result)
    }
}

/// The jobs waiting for a worker, shared by the pool and its threads.
private final class JobQueue: IdleWorkers {
    struct State {
        var admitted = 0
        var running = 0
        var nextTicket = 0
        /// Jobs not yet started, by ticket, and their tickets in arrival order (dropped ones skipped).
        var waiting: [Int: @Sendable () -> Void] = [:]
        var order: [Int] = []
        var head = 0
        /// How to end each waiting or running job's wait early.
        var pending: [Int: @Sendable (any Error) -> Void] = [:]
        /// Tickets whose task was cancelled before their job was queued.
        var cancelledEarly: Set<Int> = []
        var stopped = false
        var closed = false
        /// Shared parts of jobs no worker has started yet, and how many workers run one now.
        var offers: [SharedPart] = []
        var helping = 0
        /// Shared parts a worker took (rather than their job taking them back), for tests and the curious.
        var helped = 0

        mutating func dequeue() -> (@Sendable () -> Void)? {
            while head < order.count {
                let ticket = order[head]
                head += 1
                if head > 64, head * 2 > order.count {
                    order.removeFirst(head)
                    head = 0
                }
                if let job = waiting.removeValue(forKey: ticket) { return job }
            }
            return nil
        }
    }

    let state = Mutex(State())
    /// Signalled once per queued job and shared part (and once per thread on close).
    let available = DispatchSemaphore(value: 0)
    let workers: Int

    init(workers: Int) {
        self.workers = workers
    }

    /// Queues `part` if a worker is idle now and no call is about to want it: every admitted call,
    /// every job running or waiting and every shared part has a worker of its own, and one is left
    /// over. False otherwise, or once the pool is stopped.
    func offer(_ part: SharedPart) -> Bool {
        let queued = state.withLock { state -> Bool in
            let busy = max(state.admitted, state.running + state.waiting.count) + state.helping + state.offers.count
            guard !state.stopped, !state.closed, busy < workers else { return false }
            state.offers.append(part)
            return true
        }
        if queued { available.signal() }
        return queued
    }

    func takeBack(_ part: SharedPart) -> Bool {
        state.withLock { state in
            guard let position = state.offers.firstIndex(where: { $0 === part }) else { return false }
            state.offers.remove(at: position)
            return true
        }
    }

    /// A worker thread's loop: take the oldest waiting job, or else the oldest shared part, run it,
    /// repeat until the pool goes away.
    func serve(niceness: Int32) {
        #if canImport(Glibc)
        // On Linux the nice value is per thread; 0 names the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
        enum Next {
            case job(@Sendable () -> Void)
            case part(SharedPart)
            case nothing  // its caller went away, or took its part back
            case closed
        }
        WorkSharing.serve(self) {
            while true {
                available.wait()
                let next = state.withLock { state -> Next in
                    if state.closed { return .closed }
                    if let job = state.dequeue() {
                        state.running += 1
                        return .job(job)
                    }
                    guard !state.offers.isEmpty else { return .nothing }
                    state.helping += 1
                    state.helped += 1
                    return .part(state.offers.removeFirst())
                }
                switch next {
                case .closed:
                    return
                case .nothing:
                    continue
                case .job(let job):
                    job()
                    state.withLock { $0.running -= 1 }
                case .part(let part):
                    part.run()
                    state.withLock { $0.helping -= 1 }
                }
            }
        }
    }

    /// Ends the wait of job `ticket` with `CancellationError` if it has not started (a running job
    /// finishes: a kernel cannot be interrupted); a job not queued yet is refused when it comes.
    func drop(_ ticket: Int) {
        let dropped = state.withLock { state -> (@Sendable (any Error) -> Void)? in
            if state.waiting.removeValue(forKey: ticket) != nil { return state.pending.removeValue(forKey: ticket) }
            if state.pending[ticket] == nil { state.cancelledEarly.insert(ticket) }
            return nil
        }
        dropped?(CancellationError())
    }

    func close(threads: Int) {
        state.withLock { $0.closed = true }
        for _ in 0..<threads { available.signal() }
    }
}
