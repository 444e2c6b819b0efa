import AutodiffCore
import Foundation
import Logging

/// Everything an `autodiffd` process can be told. Every field is a flag and an environment
/// variable; a flag wins over the environment, which wins over the default.
///
/// | flag | environment | type | default |
/// |---|---|---|---|
/// | `--host` | `AUTODIFFD_HOST` | string | `0.0.0.0` |
/// | `--port` | `PORT`, `AUTODIFFD_PORT` | int (0: any free port) | `8080` |
/// | `--workers` | `AUTODIFFD_WORKERS` | int | number of cores |
/// | `--queue-depth` | `AUTODIFFD_QUEUE_DEPTH` | int, calls admitted beyond one per worker | `64` |
/// | `--max-body-bytes` | `AUTODIFFD_MAX_BODY_BYTES` | int | `67108864` (64 MiB) |
/// | `--max-nodes` | `AUTODIFFD_MAX_NODES` | int | `10000` |
/// | `--max-elements` | `AUTODIFFD_MAX_ELEMENTS` | int, per tensor | `16777216` |
/// | `--max-bytes` | `AUTODIFFD_MAX_BYTES` | int, per call | `1073741824` (1 GiB) |
/// | `--max-work` | `AUTODIFFD_MAX_WORK` | int, flops per call | `20000000000` |
/// | `--max-names` | `AUTODIFFD_MAX_NAMES` | int, names per list (inputs, values, outputs, wrt…) | `10000` |
/// | `--max-args` | `AUTODIFFD_MAX_ARGS` | int, arguments per node | `10000` |
/// | `--request-timeout` | `AUTODIFFD_REQUEST_TIMEOUT` | seconds | `30` |
/// | `--graph-cache-size` | `AUTODIFFD_GRAPH_CACHE_SIZE` | int, graphs | `256` |
/// | `--graph-cache-bytes` | `AUTODIFFD_GRAPH_CACHE_BYTES` | int, bytes | `268435456` (256 MiB) |
/// | `--retry-after` | `AUTODIFFD_RETRY_AFTER` | seconds, sent with 503 overloaded | `1` |
/// | `--api-key` (repeatable) | `AUTODIFFD_API_KEYS` (comma-separated) | strings | none: no authentication |
/// | `--log-level` | `AUTODIFFD_LOG_LEVEL` | trace…critical | `info` |
/// | `--log-format` | `AUTODIFFD_LOG_FORMAT` | `text` or `json` (one object per line) | `text` |
/// | `--body-timeout` | `AUTODIFFD_BODY_TIMEOUT` | seconds to receive a request body | `10` |
/// | `--idle-timeout` | `AUTODIFFD_IDLE_TIMEOUT` | seconds a connection may stay silent | `60` |
/// | `--drain-delay` | `AUTODIFFD_DRAIN_DELAY` | seconds `/readyz` is 503 before the listener closes | `0` |
/// | `--shutdown-grace` | `AUTODIFFD_SHUTDOWN_GRACE` | seconds the whole drain may take | `25` |
public struct ServiceConfiguration: Sendable, Equatable {
    /// Address to bind.
    public var host = "0.0.0.0"
    /// Port to bind; 0 picks a free one (logged in the "server started" line).
    public var port = 8080
    /// Worker threads for parsing and computation.
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// Calls admitted beyond one per worker; the next one is answered `503 overloaded`.
    public var queueDepth = 64
    /// Largest request body; a larger one is `413 payload_too_large`.
    public var maxBodyBytes = 64 << 20
    /// Graph, tensor and work limits handed to the core for every call.
    public var limits = Limits()
    /// Wall-clock budget of one call, queueing included; past it the call answers `504 deadline_exceeded`.
    public var requestTimeout: Duration = .seconds(30)
    /// Registered graphs kept by this process (least recently used evicted first).
    public var graphCacheSize = 256
    /// Bytes the registered graphs may hold together (their JSON and constants).
    public var graphCacheBytes = 256 << 20
    /// `Retry-After` of `503 overloaded`.
    public var retryAfterSeconds = 1
    /// When non-empty, `/v1/*` requests need one of these keys.
    public var apiKeys: [String] = []
    /// Lowest level logged (to stderr).
    public var logLevel: Logger.Level = .info
    /// How log lines are written (`text` or `json`).
    public var logFormat: LogFormat = .text
    /// Time to receive a whole request body (never past `requestTimeout`); the body is read before
    /// the call takes an admission slot, so slow uploads never hold one.
    public var bodyTimeout: Duration = .seconds(10)
    /// A connection that sends nothing for this long (while idle between requests, or mid-request) is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// After SIGTERM, how long `/readyz` answers 503 before the listener closes (for load balancers to
    /// notice). 0 suits development; behind a load balancer use its probe interval times its threshold.
    public var drainDelay: Duration = .zero
    /// After SIGTERM, the bound on the whole drain (the drain delay included): calls still computing
    /// then answer `503 shutting_down` and the process exits. Keep it under the orchestrator's kill
    /// timeout (Kubernetes' `terminationGracePeriodSeconds`, 30 s by default).
    public var shutdownGrace: Duration = .seconds(25)

    /// The defaults in the table above.
    public init() {}

    /// Defaults overridden by the environment variables in the table above.
    public init(environment: [String: String]) throws(ConfigurationError) {
        func read<T>(_ name: String, _ parse: (String) -> T?) throws(ConfigurationError) -> T? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = parse(text) else { throw ConfigurationError(setting: name, value: text) }
            return value
        }
        if let value = try read("AUTODIFFD_HOST", { $0 }) { host = value }
        if let value = try read("PORT", Self.port) { port = value }
        if let value = try read("AUTODIFFD_PORT", Self.port) { port = value }
        if let value = try read("AUTODIFFD_WORKERS", Self.positive) { workers = value }
        if let value = try read("AUTODIFFD_QUEUE_DEPTH", Self.nonNegative) { queueDepth = value }
        if let value = try read("AUTODIFFD_MAX_BODY_BYTES", Self.positive) { maxBodyBytes = value }
        if let value = try read("AUTODIFFD_MAX_NODES", Self.positive) { limits.maxNodes = value }
        if let value = try read("AUTODIFFD_MAX_ELEMENTS", Self.positive) { limits.maxElements = value }
        if let value = try read("AUTODIFFD_MAX_BYTES", Self.positive) { limits.maxBytes = value }
        if let value = try read("AUTODIFFD_MAX_WORK", Self.positive) { limits.maxWork = value }
        if let value = try read("AUTODIFFD_MAX_NAMES", Self.positive) { limits.maxNames = value }
        if let value = try read("AUTODIFFD_MAX_ARGS", Self.positive) { limits.maxArgs = value }
        if let value = try read("AUTODIFFD_REQUEST_TIMEOUT", Self.seconds) { requestTimeout = value }
        if let value = try read("AUTODIFFD_GRAPH_CACHE_SIZE", Self.positive) { graphCacheSize = value }
        if let value = try read("AUTODIFFD_GRAPH_CACHE_BYTES", Self.positive) { graphCacheBytes = value }
        if let value = try read("AUTODIFFD_RETRY_AFTER", Self.nonNegative) { retryAfterSeconds = value }
        if let value = try read("AUTODIFFD_API_KEYS", Self.keys) { apiKeys = value }
        if let value = try read("AUTODIFFD_LOG_LEVEL", Logger.Level.init(rawValue:)) { logLevel = value }
        if let value = try read("AUTODIFFD_LOG_FORMAT", LogFormat.init(rawValue:)) { logFormat = value }
        if let value = try read("AUTODIFFD_BODY_TIMEOUT", Self.seconds) { bodyTimeout = value }
        if let value = try read("AUTODIFFD_IDLE_TIMEOUT", Self.seconds) { idleTimeout = value }
        if let value = try read("AUTODIFFD_DRAIN_DELAY", Self.secondsOrZero) { drainDelay = value }
        if let value = try read("AUTODIFFD_SHUTDOWN_GRACE", Self.seconds) { shutdownGrace = value }
    }

    // MARK: Parsers

    static func port(_ text: String) -> Int? {
        Int(text).flatMap { (0...65535).contains($0) ? $0 : nil }
    }

    static func positive(_ text: String) -> Int? {
        Int(text).flatMap { $0 > 0 ? $0 : nil }
    }

    static func nonNegative(_ text: String) -> Int? {
        Int(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// A positive number of seconds, fractions allowed (shared with the command line).
    public static func seconds(_ text: String) -> Duration? {
        guard let value = Double(text), value > 0, value <= 86_400 else { return nil }
        return .milliseconds(Int64((value * 1000).rounded(.up)))
    }

    /// A number of seconds that may be 0 (shared with the command line).
    public static func secondsOrZero(_ text: String) -> Duration? {
        Double(text) == 0 ? .zero : seconds(text)
    }

    /// Comma-separated, blanks trimmed.
    static func keys(_ text: String) -> [String]? {
        let keys = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return keys.isEmpty ? nil : keys
    }
}

/// An environment variable or flag whose value cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var setting: String
    public var value: String

    public init(setting: String, value: String) {
        self.setting = setting
        self.value = value
    }

    public var description: String { "invalid value \"\(value)\" for \(setting)" }
}
