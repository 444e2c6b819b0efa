import AutodiffCore
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import AutodiffService

/// The worker pool under pressure: a full queue answers at once, probes never wait behind compute,
/// and a call that waits past its deadline answers 504.
@Suite struct LoadTests {
    static let body = Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"]"#)

    /// Occupies every worker of `pool` until `release` is signalled.
    func occupy(_ pool: WorkerPool, until release: DispatchSemaphore) async throws -> Task<Void, any Error> {
        let task = Task { try await pool.admit { try await pool.run { release.wait() } } }
        try await waitUntil { pool.load.running == pool.workers }
        return task
    }

    /// Polls `condition` a bounded number of times.
    func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<2_000 where !condition() {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(condition())
    }

    @Test func fullQueueAnswersOverloadedAtOnceAndProbesStillAnswer() async throws {
        var configuration = testConfiguration()
        configuration.retryAfterSeconds = 3
        let pool = WorkerPool(workers: 1, queueDepth: 0)
        let release = DispatchSemaphore(value: 0)
        let blocker = try await occupy(pool, until: release)
        try await withApp(configuration, pool: pool) { client in
            let reply = try await client.post("/v1/forward", Self.body)
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.errorCode == "overloaded")
            #expect(reply.headers[.retryAfter] == "3")
            #expect(try await client.get("/healthz").status == .ok)
            #expect(try await client.get("/v1/ops").status == .ok)
        }
        release.signal()
        try await blocker.value
    }

    @Test func queuedCallRunsWhenAWorkerFrees() async throws {
        let pool = WorkerPool(workers: 1, queueDepth: 1)
        let release = DispatchSemaphore(value: 0)
        let blocker = try await occupy(pool, until: release)
        try await withApp(pool: pool) { client in
            async let reply = client.post("/v1/forward", Self.body)
            try await waitUntil { pool.load.waiting == 1 }
            release.signal()
            #expect(try await reply.json["outputs"]["y"].doubles == [1, 4, 9])
        }
        try await blocker.value
    }

    @Test func callThatWaitsPastItsDeadlineIsDeadlineExceeded() async throws {
        var configuration = testConfiguration()
        let timeout = Duration.milliseconds(50)
        configuration.requestTimeout = timeout
        let pool = WorkerPool(workers: 1, queueDepth: 1)
        let release = DispatchSemaphore(value: 0)
        let blocker = try await occupy(pool, until: release)
        try await withApp(configuration, pool: pool) { client in
            async let reply = client.post("/v1/forward", Self.body)
            try await waitUntil { pool.load.waiting == 1 }
            // The queued call arrived before this instant, so its deadline has passed once this one has.
            let passed = ContinuousClock.now + timeout
            try await waitUntil { ContinuousClock.now > passed }
            release.signal()
            let answer = try await reply
            #expect(answer.status == .gatewayTimeout)
            #expect(answer.errorCode == "deadline_exceeded")
        }
        try await blocker.value
    }

    @Test func admittedCallsAreNeverRefusedBetweenTheirJobs() async throws {
        let pool = WorkerPool(workers: 1, queueDepth: 1)
        let release = DispatchSemaphore(value: 0)
        // Two admitted calls of three jobs each share one worker; the first job of the first call
        // holds it until released, so the second call's first job waits in the queue.
        let calls = (0..<2).map { call in
            Task {
                try await pool.admit {
                    var total = 0
                    for job in 0..<3 {
                        total += try await pool.run {
                            if call == 0 && job == 0 { release.wait() }
                            return job
                        }
                    }
                    return total
                }
            }
        }
        try await waitUntil { pool.load == (running: 1, waiting: 1) }
        await #expect(throws: WorkerPool.Full.self) { try await pool.admit { 0 } }
        release.signal()
        for call in calls {
            #expect(try await call.value == 3)
        }
        #expect(try await pool.admit { 7 } == 7)
    }

    @Test func jobCancelledWhileWaitingNeverRuns() async throws {
        let pool = WorkerPool(workers: 1, queueDepth: 1)
        let release = DispatchSemaphore(value: 0)
        let blocker = try await occupy(pool, until: release)
        let ran = PeakCounter()
        let waiting = Task { try await pool.run { ran.enter() } }
        try await waitUntil { pool.load.waiting == 1 }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(pool.load.waiting == 0)
        release.signal()
        try await blocker.value
        // One worker runs jobs in arrival order: once a later job has run, the dropped one would have.
        #expect(try await pool.run { 1 } == 1)
        #expect(ran.maximum == 0)
    }

    @Test func stopAnswersEveryWaitingAndRunningJobAtOnce() async throws {
        let pool = WorkerPool(workers: 1, queueDepth: 1)
        let release = DispatchSemaphore(value: 0)
        let blocker = try await occupy(pool, until: release)
        let waiting = Task { try await pool.run { 2 } }
        try await waitUntil { pool.load.waiting == 1 }
        pool.stop()
        await #expect(throws: WorkerPool.Stopped.self) { try await blocker.value }
        await #expect(throws: WorkerPool.Stopped.self) { try await waiting.value }
        await #expect(throws: WorkerPool.Stopped.self) { try await pool.run { 3 } }
        release.signal()
    }

    @Test func workersRunAtLowerPriority() async throws {
        let pool = WorkerPool(workers: 1, queueDepth: 0, niceness: 7)
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        let nice = try await pool.run { getpriority(which, 0) }
        #expect(nice == getpriority(which, 0) + 7 || nice == 19)
    }

    @Test func uploadBudgetRefusesBytesPastItsLimitAndTakesThemBack() {
        let budget = ByteBudget(limit: 10)
        #expect(budget.reserve(6))
        #expect(!budget.reserve(5))
        #expect(budget.reserve(4))
        budget.release(6)
        #expect(budget.reserve(6))
        #expect(!budget.reserve(1))
    }

    @Test func poolNeverRunsMoreThanItsWorkers() async throws {
        let pool = WorkerPool(workers: 2, queueDepth: 100)
        let peak = PeakCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.run {
                        peak.enter()
                        for _ in 0..<20_000 { _ = pool.load }
                        peak.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(peak.maximum <= 2)
        #expect(peak.maximum >= 1)
        #expect(pool.load.running == 0)
    }

    // MARK: Sharing a job

    @Test func shareHandsThePartToAnIdleWorker() async throws {
        let pool = WorkerPool(workers: 2, queueDepth: 0)
        let (shared, sameThread, hereSawThere) = try await pool.run { () -> (Bool, Bool, Bool) in
            let started = DispatchSemaphore(value: 0)
            let helper = Mutex<pthread_t?>(nil)
            var hereSawThere = false
            let shared = WorkSharing.share({
                helper.withLock { $0 = pthread_self() }
                started.signal()
            }) {
                // Waits for the shared part, which only another thread can run while this one waits.
                hereSawThere = started.wait(timeout: .now() + 60) == .success
            }
            let sameThread = helper.withLock { $0.map { pthread_equal($0, pthread_self()) != 0 } } ?? true
            return (shared, sameThread, hereSawThere)
        }
        #expect(hereSawThere)
        #expect(shared)
        #expect(!sameThread)
        #expect(pool.helped == 1)
        #expect(pool.load.running == 0)
    }

    @Test func shareLeavesThePartToTheCallerWhenNoWorkerIsIdle() async throws {
        let pool = WorkerPool(workers: 2, queueDepth: 1)
        let release = DispatchSemaphore(value: 0)
        let blocker = Task { try await pool.run { release.wait() } }
        try await waitUntil { pool.load.running == 1 }
        let (shared, ran) = try await pool.run { () -> (Bool, [String]) in
            let ran = Mutex<[String]>([])
            let shared = WorkSharing.share({ ran.withLock { $0.append("there") } }) {
                ran.withLock { $0.append("here") }
            }
            return (shared, ran.withLock { $0 })
        }
        #expect(!shared)
        #expect(ran == ["here"])
        #expect(pool.helped == 0)
        release.signal()
        try await blocker.value
    }

    @Test func shareOutsideAPoolOrAfterStopLeavesThePartToTheCaller() async throws {
        let ran = Mutex<[String]>([])
        let sharedHere = WorkSharing.share({ ran.withLock { $0.append("there") } }) {
            ran.withLock { $0.append("here") }
        }
        #expect(!sharedHere)
        #expect(ran.withLock { $0 } == ["here"])
        let pool = WorkerPool(workers: 2, queueDepth: 0)
        let stopped = DispatchSemaphore(value: 0)
        let outcome = Mutex<(shared: Bool, parts: [String])?>(nil)
        let job = Task {
            try await pool.run {
                _ = stopped.wait(timeout: .now() + 60)
                let parts = Mutex<[String]>([])
                let shared = WorkSharing.share({ parts.withLock { $0.append("there") } }) {
                    parts.withLock { $0.append("here") }
                }
                outcome.withLock { $0 = (shared, parts.withLock { $0 }) }
            }
        }
        try await waitUntil { pool.load.running == 1 }
        pool.stop()
        stopped.signal()
        await #expect(throws: WorkerPool.Stopped.self) { try await job.value }
        try await waitUntil { outcome.withLock { $0 != nil } }
        #expect(outcome.withLock { $0?.shared } == false)
        #expect(outcome.withLock { $0?.parts } == ["here"])
    }
}

/// Counts concurrent entries and remembers the most seen at once.
final class PeakCounter: Sendable {
    private let state = Mutex((current: 0, maximum: 0))

    func enter() {
        state.withLock {
            $0.current += 1
            $0.maximum = max($0.maximum, $0.current)
        }
    }

    func leave() {
        state.withLock { $0.current -= 1 }
    }

    var maximum: Int { state.withLock { $0.maximum } }
}
