import Logging

extension LogHandler {
    /// The metadata of a line: the logger's, then its metadata provider's, then the line's own,
    /// later winning (the order swift-log's `StreamLogHandler` merges them in).
    func metadata(for event: LogEvent) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let given = event.metadata { merged.merge(given) { $1 } }
        return merged
    }
}
