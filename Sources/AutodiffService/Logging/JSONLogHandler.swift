import Foundation
import Logging

/// How log lines are written to stderr (`--log-format`, `AUTODIFFD_LOG_FORMAT`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's `StreamLogHandler` lines (`TextLogHandler`):
    /// `2026-01-01T12:00:00+0000 info autodiffd: key=value … message`.
    case text
    /// One JSON object per line, for log shippers (`JSONLogHandler`).
    case json

    /// A log handler factory for `LoggingSystem.bootstrap`, writing to stderr at `level` and above.
    public func handlerFactory(level: Logger.Level) -> @Sendable (String) -> any LogHandler {
        switch self {
        case .text:
            return { label in
                var handler = TextLogHandler(StreamLogHandler.standardError(label: label))
                handler.logLevel = level
                return handler
            }
        case .json:
            return { label in
                var handler = JSONLogHandler(label: label, write: JSONLogHandler.standardError)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// Writes each log entry as one JSON object on one line:
///
/// ```
/// {"time":"2026-01-01T12:00:00.123Z","level":"info","label":"autodiffd","message":"request",
///  "method":"POST","route":"/v1/backward","status":200,"duration_ms":1.234,…}
/// ```
///
/// Metadata (the logger's, the handler's and the entry's, later winning) become top-level fields;
/// integers, floating-point numbers and booleans given as `.stringConvertible` stay JSON numbers and
/// booleans, everything else is a string, an array or an object. A metadata key that collides with
/// `time`, `level`, `label` or `message` is written with a `metadata.` prefix.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// `write` receives each line, newline included.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata(for: event)

        var fields: [(String, Logger.Metadata.Value)] = [
            ("time", .string(Self.timestamp())), ("level", .string(event.level.rawValue)),
            ("label", .string(label)), ("message", .string(event.message.description)),
        ]
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            let reserved = ["time", "level", "label", "message"].contains(key)
            fields.append((reserved ? "metadata.\(key)" : key, value))
        }
        var line = ""
        Self.appendValue(.dictionary([:]), to: &line, fields: fields)
        line += "\n"
        write(line)
    }

    // MARK: Writing

    /// Writes `line` to stderr (one `write` call for a line of ordinary length, so lines from
    /// concurrent requests do not interleave).
    public static let standardError: @Sendable (String) -> Void = { line in
        try? FileHandle.standardError.write(contentsOf: Data(line.utf8))
    }

    /// Writes `value`; an object's members are `fields` when given (to keep their order), else its own, sorted.
    private static func appendValue(
        _ value: Logger.Metadata.Value, to line: inout String, fields ordered: [(String, Logger.Metadata.Value)]? = nil
    ) {
        switch value {
        case .string(let text):
            appendString(text, to: &line)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as any BinaryInteger: line += "\(number)"
            case let number as Double where number.isFinite: line += "\(number)"
            case let flag as Bool: line += flag ? "true" : "false"
            default: appendString(convertible.description, to: &line)
            }
        case .array(let items):
            line += "["
            for (position, item) in items.enumerated() {
                if position > 0 { line += "," }
                appendValue(item, to: &line)
            }
            line += "]"
        case .dictionary(let fields):
            line += "{"
            let members = ordered ?? fields.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value) }
            for (position, (key, item)) in members.enumerated() {
                if position > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                appendValue(item, to: &line)
            }
            line += "}"
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    private static func appendString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }

    /// UTC, ISO 8601 with milliseconds.
    private static func timestamp() -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date())
    }
}
