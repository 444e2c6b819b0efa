import AutodiffCore
import CoreMetrics
import Prometheus

/// The service's own metrics, created once at start-up with fixed labels (never a request's value):
///
/// | name | kind | meaning |
/// |---|---|---|
/// | `autodiffd_workers` | gauge | size of the worker pool |
/// | `autodiffd_workers_busy` | gauge | jobs running (sampled when scraped) |
/// | `autodiffd_jobs_queued` | gauge | jobs waiting for a worker (sampled when scraped) |
/// | `autodiffd_graphs_registered` | gauge | graphs in this process's cache (sampled when scraped) |
/// | `autodiffd_errors_total{code}` | counter | error responses by contract code |
/// | `autodiffd_engine_info{blas,core}` | gauge | 1; the matrix kernel (`openblas` or `swift`) and OpenBLAS core |
///
/// HTTP request counts and durations by route, method and status come from Hummingbird's
/// `MetricsMiddleware` through the global metrics system.
struct ServiceMetrics: Sendable {
    let workers: CoreMetrics.Gauge
    let busyWorkers: CoreMetrics.Gauge
    let queuedJobs: CoreMetrics.Gauge
    let registeredGraphs: CoreMetrics.Gauge
    private let errors: [ErrorCode: CoreMetrics.Counter]
    let engineInfo: CoreMetrics.Gauge

    init(factory: any MetricsFactory) {
        workers = CoreMetrics.Gauge(label: "autodiffd_workers", factory: factory)
        busyWorkers = CoreMetrics.Gauge(label: "autodiffd_workers_busy", factory: factory)
        queuedJobs = CoreMetrics.Gauge(label: "autodiffd_jobs_queued", factory: factory)
        registeredGraphs = CoreMetrics.Gauge(label: "autodiffd_graphs_registered", factory: factory)
        var errors: [ErrorCode: CoreMetrics.Counter] = [:]
        for code in ErrorCode.allCases {
            errors[code] = CoreMetrics.Counter(
                label: "autodiffd_errors_total", dimensions: [("code", code.rawValue)], factory: factory)
        }
        self.errors = errors
        engineInfo = CoreMetrics.Gauge(
            label: "autodiffd_engine_info",
            dimensions: [("blas", Engine.blasCore == nil ? "swift" : "openblas"), ("core", Engine.blasCore ?? "none")],
            factory: factory)
        engineInfo.record(1)
    }

    /// Counts an error response.
    func recordError(code: ErrorCode) {
        errors[code]?.increment()
    }
}

/// The Prometheus registry behind `GET /metrics`.
public final class MetricsExporter: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// An exporter with its own registry; nothing global is touched (tests use this).
    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Makes a new exporter the process-wide metrics backend, so library metrics (Hummingbird's
    /// request counts and durations) land in it too. Call once, at start-up.
    public static func bootstrap() -> MetricsExporter {
        let exporter = MetricsExporter()
        MetricsSystem.bootstrap(exporter.factory)
        return exporter
    }

    /// The Prometheus text exposition format.
    func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
