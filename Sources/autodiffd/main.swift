import ArgumentParser
import AutodiffCore
import AutodiffService
import Foundation
import Logging

/// `autodiffd`: exact derivatives of tensor graphs over HTTP. Flags override environment variables,
/// which override defaults; `ServiceConfiguration` documents each one.
struct AutodiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autodiffd",
        abstract: "Serve exact derivatives of tensor graphs over HTTP (see docs/API.md).")

    @Option(help: "Address to bind. (env AUTODIFFD_HOST; default 0.0.0.0)")
    var host: String?
    @Option(help: "Port to bind, 0 for any free port. (env PORT or AUTODIFFD_PORT; default 8080)")
    var port: Int?
    @Option(help: "Worker threads for computation. (env AUTODIFFD_WORKERS; default: number of cores)")
    var workers: Int?
    @Option(help: "Calls admitted beyond one per worker; the next gets 503. (env AUTODIFFD_QUEUE_DEPTH; default 64)")
    var queueDepth: Int?
    @Option(help: "Largest request body in bytes. (env AUTODIFFD_MAX_BODY_BYTES; default 67108864)")
    var maxBodyBytes: Int?
    @Option(help: "Most nodes in a graph. (env AUTODIFFD_MAX_NODES; default 10000)")
    var maxNodes: Int?
    @Option(help: "Most elements in any one tensor. (env AUTODIFFD_MAX_ELEMENTS; default 16777216)")
    var maxElements: Int?
    @Option(help: "Most estimated bytes of tensors in one call. (env AUTODIFFD_MAX_BYTES; default 1073741824)")
    var maxBytes: Int?
    @Option(help: "Most estimated floating-point operations in one call. (env AUTODIFFD_MAX_WORK; default 2e10)")
    var maxWork: Int?
    @Option(help: "Most names in one list (inputs, values, outputs, wrt…). (env AUTODIFFD_MAX_NAMES; default 10000)")
    var maxNames: Int?
    @Option(help: "Most arguments of one node. (env AUTODIFFD_MAX_ARGS; default 10000)")
    var maxArgs: Int?
    @Option(help: "Seconds one call may take, queueing included. (env AUTODIFFD_REQUEST_TIMEOUT; default 30)")
    var requestTimeout: String?
    @Option(help: "Registered graphs kept per process. (env AUTODIFFD_GRAPH_CACHE_SIZE; default 256)")
    var graphCacheSize: Int?
    @Option(help: "Bytes registered graphs may hold (6x JSON). (env AUTODIFFD_GRAPH_CACHE_BYTES; default 268435456)")
    var graphCacheBytes: Int?
    @Option(help: "Retry-After seconds sent with 503 overloaded. (env AUTODIFFD_RETRY_AFTER; default 1)")
    var retryAfter: Int?
    @Option(help: "An accepted API key; repeat for several. (env AUTODIFFD_API_KEYS, comma-separated; default none)")
    var apiKey: [String] = []
    @Option(help: "trace, debug, info, notice, warning, error or critical. (env AUTODIFFD_LOG_LEVEL; default info)")
    var logLevel: String?
    @Option(help: "Seconds to receive a request body, read before admission. (env AUTODIFFD_BODY_TIMEOUT; default 10)")
    var bodyTimeout: String?
    @Option(help: "Seconds a connection may send nothing before it is closed. (env AUTODIFFD_IDLE_TIMEOUT; default 60)")
    var idleTimeout: String?
    @Option(
        help: "Seconds /readyz is 503 after SIGTERM before the listener closes. (env AUTODIFFD_DRAIN_DELAY; default 0)")
    var drainDelay: String?
    @Option(
        help: ArgumentHelp(
            "Seconds the whole drain after SIGTERM may take; then running calls answer 503. "
                + "(env AUTODIFFD_SHUTDOWN_GRACE; default 25)"))
    var shutdownGrace: String?
    @Option(help: "text, or json for one JSON object per line. (env AUTODIFFD_LOG_FORMAT; default text)")
    var logFormat: String?

    func run() async throws {
        let configuration = try resolve()
        // Keep freed heap for the next call rather than faulting it in again (see MallocPolicy).
        MallocPolicy.apply(environment: ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap(configuration.logFormat.handlerFactory(level: configuration.logLevel))
        let logger = Logger(label: "autodiffd")
        let metrics = MetricsExporter.bootstrap()
        try await runServer(configuration: configuration, logger: logger, metrics: metrics)
    }

    /// Defaults, then the environment, then these flags.
    private func resolve() throws -> ServiceConfiguration {
        var configuration = try ServiceConfiguration(environment: ProcessInfo.processInfo.environment)
        func check<T>(_ value: T?, _ flag: String, _ valid: (T) -> Bool) throws -> T? {
            guard let value else { return nil }
            guard valid(value) else { throw ValidationError("invalid value \(value) for --\(flag)") }
            return value
        }
        if let host { configuration.host = host }
        if let port = try check(port, "port", { (0...65535).contains($0) }) { configuration.port = port }
        if let value = try check(workers, "workers", { $0 > 0 }) { configuration.workers = value }
        if let value = try check(queueDepth, "queue-depth", { $0 >= 0 }) { configuration.queueDepth = value }
        if let value = try check(maxBodyBytes, "max-body-bytes", { $0 > 0 }) { configuration.maxBodyBytes = value }
        if let value = try check(maxNodes, "max-nodes", { $0 > 0 }) { configuration.limits.maxNodes = value }
        if let value = try check(maxElements, "max-elements", { $0 > 0 }) { configuration.limits.maxElements = value }
        if let value = try check(maxBytes, "max-bytes", { $0 > 0 }) { configuration.limits.maxBytes = value }
        if let value = try check(maxWork, "max-work", { $0 > 0 }) { configuration.limits.maxWork = value }
        if let value = try check(maxNames, "max-names", { $0 > 0 }) { configuration.limits.maxNames = value }
        if let value = try check(maxArgs, "max-args", { $0 > 0 }) { configuration.limits.maxArgs = value }
        func seconds(_ text: String?, _ flag: String, zero: Bool = false) throws -> Duration? {
            guard let text else { return nil }
            guard let value = zero ? ServiceConfiguration.secondsOrZero(text) : ServiceConfiguration.seconds(text)
            else { throw ValidationError("invalid value \(text) for --\(flag): give seconds, e.g. 30 or 0.5") }
            return value
        }
        if let value = try seconds(requestTimeout, "request-timeout") { configuration.requestTimeout = value }
        if let value = try seconds(bodyTimeout, "body-timeout") { configuration.bodyTimeout = value }
        if let value = try seconds(idleTimeout, "idle-timeout") { configuration.idleTimeout = value }
        if let value = try seconds(drainDelay, "drain-delay", zero: true) { configuration.drainDelay = value }
        if let value = try seconds(shutdownGrace, "shutdown-grace") { configuration.shutdownGrace = value }
        if let value = try check(graphCacheSize, "graph-cache-size", { $0 > 0 }) {
            configuration.graphCacheSize = value
        }
        if let value = try check(graphCacheBytes, "graph-cache-bytes", { $0 > 0 }) {
            configuration.graphCacheBytes = value
        }
        if let value = try check(retryAfter, "retry-after", { $0 >= 0 }) { configuration.retryAfterSeconds = value }
        if !apiKey.isEmpty { configuration.apiKeys = apiKey }
        if let text = logLevel {
            guard let level = Logger.Level(rawValue: text) else {
                throw ValidationError("invalid value \(text) for --log-level")
            }
            configuration.logLevel = level
        }
        if let text = logFormat {
            guard let format = LogFormat(rawValue: text) else {
                throw ValidationError("invalid value \(text) for --log-format: give text or json")
            }
            configuration.logFormat = format
        }
        return configuration
    }
}

// `autodiffd healthcheck`: the container's health check (see HealthCheck.swift).
if CommandLine.arguments.dropFirst().first == "healthcheck" {
    exit(HealthCheck.run(arguments: Array(CommandLine.arguments.dropFirst(2))))
}

// Top-level code cannot use `@main`, and `main()` here would pick the synchronous overload.
do {
    let command = try AutodiffCommand.parse()
    try await command.run()
} catch {
    // A configuration error is one line naming the setting, printed before any port is bound.
    // `--help` and `--version` print as usual.
    let code = AutodiffCommand.exitCode(for: error)
    if code.isSuccess { AutodiffCommand.exit(withError: error) }
    let message = AutodiffCommand.message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    FileHandle.standardError.write(Data("autodiffd: \(message)\n".utf8))
    exit(code.rawValue)
}
