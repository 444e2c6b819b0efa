import Logging
import Synchronization
import Testing

@testable import AutodiffService

/// `--log-format text` writes exactly the lines swift-log's `StreamLogHandler` writes, though it
/// formats the logger's metadata only when a line is written.
@Suite struct TextLogHandlerTests {
    /// Text written to a stream, shared by the copies a `Logger` makes of its handler.
    struct Captured: TextOutputStream, Sendable {
        final class Text: Sendable {
            let value = Mutex<String>("")
        }
        let text = Text()
        mutating func write(_ string: String) { text.value.withLock { $0 += string } }
    }

    /// The lines in `captured`, each without its timestamp (the first word, in seconds, which two
    /// handlers writing a moment apart may not share).
    static func lines(_ captured: Captured) -> [Substring] {
        captured.text.value.withLock { $0 }.split(separator: "\n").map { $0.drop { $0 != " " } }
    }

    /// Logs the same things through a logger made by `handler`: metadata set, changed and removed
    /// on the logger, a line's own metadata overriding the logger's, an error, a line with none.
    static func logAll(_ handler: @escaping @Sendable (String) -> any LogHandler) {
        var logger = Logger(label: "autodiffd", factory: handler)
        logger.logLevel = .debug
        logger.info("no metadata yet")
        logger[metadataKey: "hb.request.id"] = .stringConvertible(42)
        logger[metadataKey: "request.id"] = "client-7"
        logger[metadataKey: "zeta"] = ["a", "b"]
        logger.info("request", metadata: ["status": .stringConvertible(200), "request.id": "overridden"])
        logger[metadataKey: "zeta"] = nil
        logger[metadataKey: "alpha"] = ["k": "v"]
        logger.warning("no line metadata")
        struct Failure: Error {}
        logger.error("failed", error: Failure())
        logger.debug("debug", metadata: [:])
    }

    @Test(arguments: [false, true]) func linesAreStreamLogHandlersLines(withProvider: Bool) {
        let provider: Logger.MetadataProvider? =
            withProvider ? Logger.MetadataProvider { ["provided": "p", "request.id": "from-provider"] } : nil
        let (text, stream) = (Captured(), Captured())
        Self.logAll { label in
            TextLogHandler(StreamLogHandler(label: label, stream: text, metadataProvider: provider))
        }
        Self.logAll { label in StreamLogHandler(label: label, stream: stream, metadataProvider: provider) }

        let (written, expected) = (Self.lines(text), Self.lines(stream))
        #expect(written.count == 5)
        #expect(written == expected)
        #expect(written[1].contains("request.id=overridden"))
        #expect(written[2].contains("alpha=") && !written[2].contains("zeta"))
        #expect(withProvider == written[0].contains("provided=p"))
    }

    @Test func theLoggersMetadataReadsBack() {
        var handler = TextLogHandler(StreamLogHandler(label: "x", stream: Captured(), metadataProvider: nil))
        handler[metadataKey: "request.id"] = "abc"
        #expect(handler[metadataKey: "request.id"] == "abc")
        #expect(handler.metadata == ["request.id": "abc"])
        handler[metadataKey: "request.id"] = nil
        #expect(handler.metadata.isEmpty)
    }
}
