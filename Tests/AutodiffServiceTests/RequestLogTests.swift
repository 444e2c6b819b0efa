import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import AutodiffService

/// One `info` line per request (through `JSONLogHandler`, so each line is parsed back), and the
/// request id in the response.
@Suite struct RequestLogTests {
    /// Log lines written by a `JSONLogHandler`, parsed.
    final class CapturedLines: Sendable {
        private let lines = Mutex<[String]>([])

        func write(_ line: String) { lines.withLock { $0.append(line) } }

        var text: String { lines.withLock { $0.joined() } }

        /// Every line, each of which must be one JSON object ending in a newline.
        var objects: [JSON] {
            lines.withLock { $0 }.map { line in
                #expect(line.hasSuffix("\n") && line.dropLast().allSatisfy { $0 != "\n" })
                return JSON(parsing: line)
            }
        }

        var requests: [JSON] { objects.filter { $0["message"].string == "request" } }
    }

    /// Runs `body` against the router with a logger at `info` writing JSON lines into `captured`.
    func withLoggedApp<T: Sendable>(
        _ configuration: ServiceConfiguration = testConfiguration(), captured: CapturedLines,
        _ body: @Sendable @escaping (any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let router = buildRouter(configuration: configuration, readiness: Readiness())
        var logger = Logger(label: "autodiffd") { label in
            JSONLogHandler(label: label, write: { captured.write($0) })
        }
        logger.logLevel = .info
        let app = Application(router: router, logger: logger)
        return try await app.test(.router) { client in try await body(client) }
    }

    static let secretKey = "s3cr3t-key-0123456789"
    /// A value that must never reach the log.
    static let distinctiveValue = "1.2345678901"

    @Test func oneLinePerRequestWithRouteStatusBytesErrorAndID() async throws {
        var configuration = testConfiguration()
        configuration.apiKeys = [Self.secretKey]
        let captured = CapturedLines()
        let call = Graphs.call(
            Graphs.square, #""values":{"x":[\#(Self.distinctiveValue),2]},"outputs":["y"],"seeds":{"y":"ones"}"#)
        let missingID = "sha256-" + String(repeating: "0", count: 64)
        let replies = try await withLoggedApp(configuration, captured: captured) { client in
            let ok = try await client.post(
                "/v1/backward", call,
                headers: [
                    .authorization: "Bearer \(Self.secretKey)", .contentLength: String(call.utf8.count),
                    RequestLogMiddleware<BasicRequestContext>.requestIDField: "client-id.42",
                ])
            let missing = try await client.send(
                .get, "/v1/graphs/\(missingID)", headers: [.init("X-API-Key")!: Self.secretKey])
            let nowhere = try await client.get("/nowhere/\(missingID)")
            return [ok, missing, nowhere]
        }
        #expect(replies.map(\.status.code) == [200, 404, 404])

        let lines = captured.requests
        try #require(lines.count == 3, "\(captured.text)")
        let (ok, missing, nowhere) = (lines[0], lines[1], lines[2])
        #expect(ok["level"].string == "info")
        #expect(ok["method"].string == "POST")
        #expect(ok["route"].string == "/v1/backward")
        #expect(ok["status"].int == 200)
        #expect(ok["bytes_in"].int == call.utf8.count)
        #expect(ok["bytes_out"].int == replies[0].text.utf8.count)
        #expect(ok["error"].value == nil)
        #expect((ok["duration_ms"].double ?? -1) >= 0)
        #expect(ok["request.id"].string == "client-id.42")
        #expect(replies[0].headers[RequestLogMiddleware<BasicRequestContext>.requestIDField] == "client-id.42")

        // The route pattern, not the path, so ids do not make every line unique.
        #expect(missing["route"].string == "/v1/graphs/{id}")
        #expect(missing["status"].int == 404)
        #expect(missing["error"].string == "graph_not_found")
        #expect(missing["bytes_out"].int == replies[1].text.utf8.count)
        #expect(nowhere["route"].string == "NotFound")
        #expect(nowhere["error"].string == "not_found")
        #expect(!captured.text.contains(missingID))

        // Neither keys nor tensor values reach the log.
        #expect(!captured.text.contains(Self.secretKey))
        #expect(!captured.text.contains(Self.distinctiveValue))
        // The error body still reaches the client after the log read its code.
        #expect(replies[1].errorCode == "graph_not_found")
    }

    @Test func unauthorizedRequestsAreLoggedWithTheirCode() async throws {
        var configuration = testConfiguration()
        configuration.apiKeys = [Self.secretKey]
        let captured = CapturedLines()
        let reply = try await withLoggedApp(configuration, captured: captured) { client in
            try await client.post("/v1/forward", "{}", headers: [.authorization: "Bearer wrong-\(Self.secretKey)"])
        }
        #expect(reply.status == .unauthorized)
        let line = try #require(captured.requests.first)
        #expect(line["status"].int == 401)
        #expect(line["error"].string == "unauthorized")
        #expect(!captured.text.contains(Self.secretKey))
    }

    @Test(arguments: [
        "", "has space", "quote\"d", String(repeating: "a", count: 129), "tab\tid", "ünïcode", "semi;colon",
    ])
    func insaneRequestIDsAreReplacedByGeneratedOnes(_ sent: String) async throws {
        let captured = CapturedLines()
        let field = RequestLogMiddleware<BasicRequestContext>.requestIDField
        let replies = try await withLoggedApp(captured: captured) { client in
            [
                try await client.send(.get, "/healthz", headers: HTTPFields([HTTPField(name: field, value: sent)])),
                try await client.get("/healthz"),
            ]
        }
        let echoed = replies.compactMap { $0.headers[field] }
        try #require(echoed.count == 2)
        #expect(!echoed.contains(sent))
        #expect(echoed[0] != echoed[1], "each request gets its own id")
        for id in echoed { #expect(RequestLogMiddleware<BasicRequestContext>.sanitized(id) == id) }
        #expect(captured.requests.compactMap { $0["request.id"].string } == echoed)
    }

    /// With the log above `info` no request line is written, yet the id is echoed and is on every
    /// line logged while serving the request; at `info` the request line carries the same id.
    @Test(arguments: [Logger.Level.info, .warning])
    func theRequestIDReachesTheClientAndInnerLinesAtAnyLevel(_ level: Logger.Level) async throws {
        let captured = CapturedLines()
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestLogMiddleware())
        router.post("/inner") { request, context in
            context.logger.warning("inside")
            let body = try await request.body.collect(upTo: 1 << 20)
            BodyMeter.current?.add(body.readableBytes)  // as `AutodiffAPI.read` counts
            return body
        }
        var logger = Logger(label: "autodiffd") { label in
            JSONLogHandler(label: label, write: { captured.write($0) })
        }
        logger.logLevel = level
        let field = RequestLogMiddleware<BasicRequestContext>.requestIDField
        let replies = try await Application(router: router, logger: logger).test(.router) { client in
            [
                try await client.post("/inner", "abc", headers: [field: "client-id.7"]),
                try await client.post("/inner", "abcd"),
            ]
        }
        #expect(replies.map(\.status.code) == [200, 200])
        #expect(replies[0].headers[field] == "client-id.7")
        let generated = try #require(replies[1].headers[field])
        #expect(RequestLogMiddleware<BasicRequestContext>.sanitized(generated) == generated)

        let inner = captured.objects.filter { $0["message"].string == "inside" }
        #expect(inner.compactMap { $0["request.id"].string } == ["client-id.7", generated])
        let requests = captured.requests
        if level <= .info {
            #expect(requests.compactMap { $0["request.id"].string } == ["client-id.7", generated])
            #expect(requests.compactMap { $0["bytes_in"].int } == [3, 4])
        } else {
            #expect(requests.isEmpty, "\(captured.text)")
        }
    }

    @Test func saneRequestIDsAreKept() {
        let ids = [
            "a", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:span/1+2=3@x~y_z.w", String(repeating: "b", count: 128),
        ]
        for id in ids {
            #expect(RequestLogMiddleware<BasicRequestContext>.sanitized(id) == id)
        }
    }
}

/// One JSON object per line, whatever the metadata holds.
@Suite struct JSONLogHandlerTests {
    @Test func linesAreJSONObjectsWithNumbersKeptAsNumbers() throws {
        let captured = RequestLogTests.CapturedLines()
        var logger = Logger(label: "label \"quoted\"") { label in
            JSONLogHandler(label: label, write: { captured.write($0) })
        }
        logger[metadataKey: "handler"] = "h"
        logger.info(
            "line\nbreak \"quoted\" \\ \u{1}",
            metadata: [
                "count": .stringConvertible(42), "ratio": .stringConvertible(0.5), "flag": .stringConvertible(true),
                "text": "42", "list": [.string("a"), .stringConvertible(1)], "nested": ["k": "v"],
                "message": "collides",
            ])
        logger.debug("below the level")

        let objects = captured.objects
        try #require(objects.count == 1, "\(captured.text)")
        let line = objects[0]
        #expect(line["message"].string == "line\nbreak \"quoted\" \\ \u{1}")
        #expect(line["label"].string == "label \"quoted\"")
        #expect(line["level"].string == "info")
        #expect(line["count"].int == 42 && line["count"].string == nil)
        #expect(line["ratio"].double == 0.5)
        #expect(line["flag"].bool == true)
        #expect(line["text"].string == "42")
        #expect(line["list"][0].string == "a")
        #expect(line["list"][1].int == 1)
        #expect(line["nested"]["k"].string == "v")
        #expect(line["metadata.message"].string == "collides")
        #expect(line["handler"].string == "h")
        let time = try #require(line["time"].string)
        #expect(try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(time) <= Date())
    }
}
