import Logging
import ServiceLifecycle
import Synchronization

/// Whether the process takes new work. It stops when graceful shutdown begins (SIGTERM/SIGINT):
/// `/readyz` then answers 503 and new compute calls answer `503 shutting_down`, while calls
/// already in flight finish.
public final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isAccepting: Bool { !draining.load(ordering: .acquiring) }

    public func beginDraining() {
        draining.store(true, ordering: .releasing)
    }
}

/// Flips `Readiness` when the service group starts its graceful shutdown.
///
/// Listed after the HTTP application in the service group, so it is told first (a group shuts
/// its services down in reverse order): readiness goes 503 before the listener closes and drains.
public struct ReadinessService: Service, CustomStringConvertible {
    let readiness: Readiness
    let logger: Logger

    public init(readiness: Readiness, logger: Logger) {
        self.readiness = readiness
        self.logger = logger
    }

    public var description: String { "ReadinessService" }

    public func run() async throws {
        try? await gracefulShutdown()
        readiness.beginDraining()
        logger.info("draining: readiness is now 503, in-flight requests finish")
    }
}
