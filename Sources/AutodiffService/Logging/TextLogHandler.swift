import Logging

/// swift-log's `StreamLogHandler` text lines (`--log-format text`), with the logger's metadata
/// formatted when a line is written rather than whenever it changes.
///
/// `StreamLogHandler` re-sorts and re-formats all of its metadata into a string on every change, and
/// every request changes it twice (Hummingbird's `hb.request.id`, the request log's `request.id`):
/// about 3.5 % of the server's CPU on small calls, for lines that at `--log-level warning` are never
/// written. This handler keeps the metadata as a dictionary and hands it to an inner
/// `StreamLogHandler` with each line, merged as that handler merges its own (the logger's, then the
/// metadata provider's, then the line's, later winning), so every line is exactly what
/// `StreamLogHandler` would write.
public struct TextLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    /// Writes the lines; its own metadata stays empty, so changing ours costs it nothing.
    private let stream: StreamLogHandler

    /// Writes through `stream` (its metadata provider becomes this handler's; its metadata is unused).
    public init(_ stream: StreamLogHandler) {
        var stream = stream
        metadataProvider = stream.metadataProvider
        stream.metadataProvider = nil
        stream.metadata = [:]
        self.stream = stream
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.metadata = metadata(for: event)
        stream.log(event: event)
    }
}
