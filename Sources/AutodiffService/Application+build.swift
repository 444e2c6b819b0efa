import AutodiffCore
import CoreMetrics
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP application: routes, middleware and the shared state behind them.
///
/// The executable and the tests both call this, so what is tested is what runs.
/// `readiness` is flipped by `ReadinessService` on graceful shutdown (or by a test); `pool` is the
/// worker pool it stops when the shutdown grace ends.
/// With `metrics`, `GET /metrics` serves them in Prometheus' text format.
public func buildApplication(
    configuration: ServiceConfiguration, logger: Logger, readiness: Readiness = Readiness(),
    pool: WorkerPool? = nil, metrics: MetricsExporter? = nil
) -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, readiness: readiness, pool: pool, metrics: metrics)
    let port = configuration.port
    // Idle keep-alive connections, and clients that stop sending mid-request, are closed after
    // `--idle-timeout`; `ConnectionHandler` answers `Expect: 100-continue` and flushes before closing.
    let http1 = HTTP1Channel.Configuration(
        additionalChannelHandlers: [ConnectionHandler(readiness: readiness)],
        idleTimeout: TimeAmount(configuration.idleTimeout))
    return Application(
        router: router,
        server: .http1(configuration: http1),
        configuration: .init(address: .hostname(configuration.host, port: port), serverName: "autodiffd"),
        onServerRunning: { channel in
            logger.info(
                "server started",
                metadata: [
                    "host": "\(configuration.host)", "port": "\(channel.localAddress?.port ?? port)",
                    "workers": "\(configuration.workers)", "engine": "\(Engine.blasDescription)",
                ])
        },
        logger: logger)
}

/// Runs the application until SIGTERM or SIGINT, then drains (`ReadinessService`): `/readyz` turns
/// 503, the listener closes after `--drain-delay`, in-flight requests finish and are written, calls
/// still computing when `--shutdown-grace` ends answer 503, and the call returns.
public func runServer(
    configuration: ServiceConfiguration, logger: Logger, metrics: MetricsExporter? = nil
) async throws {
    let readiness = Readiness()
    // Workers yield to the event loops (probes) when the CPU is short. On a host shared with other
    // busy processes they also yield to those: see docs/RELIABILITY.md.
    let pool = WorkerPool(workers: configuration.workers, queueDepth: configuration.queueDepth, niceness: 10)
    let app = buildApplication(
        configuration: configuration, logger: logger, readiness: readiness, pool: pool, metrics: metrics)
    let drain = ReadinessService(
        readiness: readiness, pool: pool, drainDelay: configuration.drainDelay, grace: configuration.shutdownGrace,
        logger: logger)
    var groupConfiguration = ServiceGroupConfiguration(
        services: [app, drain], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    // A backstop just past the grace, for anything still open once the answers cut off by its end
    // had their `lastFlush` to be written: the process exits within the orchestrator's kill timeout.
    groupConfiguration.maximumGracefulShutdownDuration =
        configuration.shutdownGrace + .nanoseconds(2 * ConnectionHandler.lastFlush.nanoseconds)
    let group = ServiceGroup(configuration: groupConfiguration)
    try await group.run()
    logger.info("server stopped")
}

/// The routes of the wire contract. Tests may pass their own `pool` to hold its workers.
func buildRouter(
    configuration: ServiceConfiguration, readiness: Readiness, pool: WorkerPool? = nil, metrics: MetricsExporter? = nil
) -> Router<ServiceRequestContext> {
    let serviceMetrics = ServiceMetrics(factory: metrics?.factory ?? NOOPMetricsHandler.instance)
    let api = AutodiffAPI(
        configuration: configuration, readiness: readiness,
        pool: pool ?? WorkerPool(workers: configuration.workers, queueDepth: configuration.queueDepth),
        metrics: serviceMetrics)
    var routes = Routes()
    for (method, path) in [
        (HTTPRequest.Method.get, "/healthz"), (.get, "/readyz"), (.get, "/v1/ops"),
        (.post, "/v1/forward"), (.post, "/v1/backward"), (.post, "/v1/jacobian"), (.post, "/v1/jvp"),
        (.post, "/v1/hvp"), (.post, "/v1/graphs"), (.get, "/v1/graphs/:id"),
        (.post, "/v1/explain"), (.get, "/"),
    ] {
        routes.add(method, path)
    }
    if metrics != nil { routes.add(.get, "/metrics") }
    routes.add(.get, "/openapi.json")
    // Every GET also answers HEAD (load balancers probe with it).
    for route in routes.routes where route.method == .get {
        routes.add(.head, route.path)
    }

    let router = Router(context: ServiceRequestContext.self, options: .autoGenerateHeadEndpoints)
    // First, so it is outermost: one log line per request with its final status, and the request id.
    router.add(middleware: RequestLogMiddleware())
    if metrics != nil {
        // Next, so it sees every response, errors included, with its final status.
        router.add(middleware: MetricsMiddleware())
    }
    router.add(
        middleware: ErrorMiddleware(
            routes: routes, maxBodyBytes: configuration.maxBodyBytes, drainTimeout: configuration.requestTimeout,
            metrics: serviceMetrics))
    if !configuration.apiKeys.isEmpty {
        router.add(middleware: APIKeyMiddleware(keys: configuration.apiKeys))
    }

    router.get("/healthz") { _, _ in api.health() }
    router.get("/readyz") { _, _ in try api.ready() }
    router.get("/v1/ops") { _, _ in api.ops() }
    router.post("/v1/forward") { request, context in try await api.compute(ForwardComputation.self, request, context) }
    router.post("/v1/backward") { request, context in
        try await api.compute(BackwardComputation.self, request, context)
    }
    router.post("/v1/jacobian") { request, context in
        try await api.compute(JacobianComputation.self, request, context)
    }
    router.post("/v1/jvp") { request, context in try await api.compute(JVPComputation.self, request, context) }
    router.post("/v1/hvp") { request, context in try await api.compute(HVPComputation.self, request, context) }
    router.post("/v1/graphs") { request, context in try await api.register(request, context) }
    router.get("/v1/graphs/:id") { _, context in
        try await api.registeredGraph(context.parameters.require("id"), client: context.clientPresence)
    }
    router.post("/v1/explain") { request, context in try await api.explain(request, context) }
    router.get("/") { _, _ in Playground.response() }
    if let metrics {
        router.get("/metrics") { _, _ in await api.metrics(metrics) }
    }
    let openAPI = ByteBuffer(string: OpenAPIDocument.json)
    router.get("/openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: openAPI))
    }
    return router
}
