import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Whether the process takes new work. It stops when graceful shutdown begins (SIGTERM/SIGINT):
/// `/readyz` then answers 503 and new calls answer `503 shutting_down`, while calls already
/// admitted finish (see `ReadinessService` for the whole drain).
public final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)
    /// When the shutdown grace ends, in `NIODeadline` nanoseconds; 0 while there is none.
    private let graceEndNanoseconds = Atomic<UInt64>(0)

    public init() {}

    public var isAccepting: Bool { !draining.load(ordering: .acquiring) }

    /// When the drain must be over (`--shutdown-grace` after the signal), once draining has begun.
    var graceEnd: NIODeadline? {
        let nanoseconds = graceEndNanoseconds.load(ordering: .acquiring)
        return nanoseconds == 0 ? nil : .uptimeNanoseconds(nanoseconds)
    }

    /// Stops taking new work; `graceEnd` is when the drain must be over, if it is bounded.
    public func beginDraining(graceEnd: NIODeadline? = nil) {
        if let graceEnd { graceEndNanoseconds.store(max(1, graceEnd.uptimeNanoseconds), ordering: .releasing) }
        draining.store(true, ordering: .releasing)
    }
}

/// Runs the drain when the service group starts its graceful shutdown (SIGTERM/SIGINT):
///
/// 1. `Readiness` flips at once: `/readyz` answers 503 and new calls `503 shutting_down`;
/// 2. after `drainDelay` this service returns, and the group then shuts the HTTP application down:
///    the listener closes, idle connections close, in-flight calls finish and their answers are
///    written completely before each connection closes;
/// 3. `grace` after the signal, calls still waiting for or running on a worker are answered
///    `503 shutting_down` (`WorkerPool.stop()`), so the drain ends within the grace. Answers still
///    being written wait for their clients until the grace ends, not beyond (`ConnectionHandler`).
///
/// Listed after the HTTP application in the service group, so it is told first (a group shuts
/// its services down in reverse order, one after the other): readiness goes 503 before the
/// listener closes, and stays 503 for `drainDelay`, long enough for a load balancer to notice.
public struct ReadinessService: Service, CustomStringConvertible {
    let readiness: Readiness
    let pool: WorkerPool?
    let drainDelay: Duration
    let grace: Duration
    let logger: Logger

    public init(
        readiness: Readiness, pool: WorkerPool? = nil, drainDelay: Duration = .zero, grace: Duration = .seconds(25),
        logger: Logger
    ) {
        self.readiness = readiness
        self.pool = pool
        self.drainDelay = drainDelay
        self.grace = grace
        self.logger = logger
    }

    public var description: String { "ReadinessService" }

    public func run() async throws {
        try? await gracefulShutdown()
        readiness.beginDraining(graceEnd: .now() + TimeAmount(grace))
        logger.info(
            "draining: readiness is now 503, in-flight requests finish",
            metadata: ["drain_delay": "\(drainDelay)", "shutdown_grace": "\(grace)"])
        if let pool {
            let (grace, logger) = (grace, logger)
            // Outlives this service on purpose: it bounds the rest of the drain, which runs after it returns.
            Task.detached {
                try? await Task.sleep(for: grace)
                let load = pool.load
                if load.running + load.waiting > 0 {
                    logger.warning(
                        "shutdown grace is over: calls still computing answer 503 shutting_down",
                        metadata: ["running": "\(load.running)", "queued": "\(load.waiting)"])
                }
                pool.stop()
            }
        }
        // Not cancelled by the shutdown itself; a second signal's cancellation ends the wait early.
        try? await Task.sleep(for: drainDelay)
        logger.info("draining: closing the listener")
    }
}
