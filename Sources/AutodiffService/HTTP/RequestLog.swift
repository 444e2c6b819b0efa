import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// One `info` line per request, and the request id in the response.
///
/// ```
/// request  request.id=… method=POST route=/v1/graphs/{id} status=404 duration_ms=0.412
///          bytes_in=153 bytes_out=211 error=graph_not_found
/// ```
///
/// `route` is the matched route pattern (`NotFound` when none matched, as in `/metrics`), so ids in
/// paths do not make every line unique; `bytes_in` is the bytes of body the handler read (so a
/// chunked upload is counted too), or the request's `Content-Length` for a route that reads no
/// body; `error` is the contract's code of a non-2xx answer. Bodies and headers are never logged, so
/// neither tensor values nor API keys reach the log.
///
/// The request id is the client's `X-Request-ID` when it is sane (1 to 128 characters from
/// `A-Z a-z 0-9 - _ . : / + = @ ~`), else the id Hummingbird gave the request. It is echoed in the
/// response's `X-Request-ID` and added to the request's logger as `request.id`, so every line
/// logged while serving the request carries it.
///
/// When the logger is above `info` (`--log-level warning`, as in the benchmarks) the line is not
/// written, so nothing is measured for it: the request id is still echoed and still on the
/// request's logger, for whatever else is logged.
///
/// Added first, so it sees every response with its final status, errors included.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    static var requestIDField: HTTPField.Name { HTTPField.Name.requestID }

    /// The longest response body read back for its error code (error bodies are a few hundred bytes).
    static var maxErrorBodyBytes: Int { 64 << 10 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let requestID =
            request.headers[.requestID].flatMap(Self.sanitized)
            ?? context.logger[metadataKey: "hb.request.id"]?.description ?? RequestID().description
        var context = context
        context.logger[metadataKey: "request.id"] = .string(requestID)
        guard context.logger.logLevel <= .info else {
            var response = try await next(request, context)
            response.headers[.requestID] = requestID
            return response
        }

        let started = ContinuousClock.now
        let bodyMeter = BodyMeter()
        var response = try await BodyMeter.$current.withValue(bodyMeter) { try await next(request, context) }
        let duration = ContinuousClock.now - started

        var metadata: Logger.Metadata = [
            "request.id": .string(requestID),
            "method": .string(request.method.rawValue),
            "route": .string(context.endpointPath ?? "NotFound"),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .stringConvertible(Self.milliseconds(duration)),
        ]
        if let bytesIn = bodyMeter.bytes ?? request.headers[.contentLength].flatMap(Int.init) {
            metadata["bytes_in"] = .stringConvertible(bytesIn)
        }
        if let bytesOut = response.body.contentLength {
            metadata["bytes_out"] = .stringConvertible(bytesOut)
        }
        if response.status.code >= 400, let length = response.body.contentLength, length <= Self.maxErrorBodyBytes {
            let body = await Self.collect(response.body)
            response.body = ResponseBody(byteBuffer: body)
            if let code = Self.errorCode(in: body) { metadata["error"] = .string(code) }
        }
        response.headers[.requestID] = requestID
        context.logger.info("request", metadata: metadata)
        return response
    }

    /// `header` when it is 1 to 128 characters of `A-Z a-z 0-9 - _ . : / + = @ ~`, else nil.
    static func sanitized(_ header: String) -> String? {
        let allowed = header.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default: "-_.:/+=@~".utf8.contains(byte)
            }
        }
        return allowed && (1...128).contains(header.utf8.count) ? header : nil
    }

    /// Milliseconds with microsecond resolution.
    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return (Double(seconds) * 1e6 + Double(attoseconds / 1_000_000_000_000)) / 1e3
    }

    /// `error.code` of a contract error body, nil for anything else.
    static func errorCode(in body: ByteBuffer) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        return ((object as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
    }

    /// The bytes a response body writes (only used for small error bodies).
    static func collect(_ body: ResponseBody) async -> ByteBuffer {
        let sink = CollectingWriter.Sink()
        // Writing into memory cannot fail; an error body is a single buffer.
        try? await body.write(CollectingWriter(sink: sink))
        return sink.bytes.withLock { $0 }
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`, made once (a valid token: cannot fail).
    static let requestID = HTTPField.Name("X-Request-ID")!
}

/// The bytes of request body a handler read, counted where the body is read (`AutodiffAPI.read`)
/// and reported by the request log; reached through a task-local value, so any route can count.
final class BodyMeter: Sendable {
    @TaskLocal static var current: BodyMeter?

    private let count = Mutex<Int?>(nil)

    /// The bytes read, or nil when nothing read the body.
    var bytes: Int? { count.withLock { $0 } }

    /// Counts `bytes` more (0 to say the body is being read).
    func add(_ bytes: Int) {
        count.withLock { $0 = ($0 ?? 0) + bytes }
    }
}

/// A response body writer that keeps what it is given.
private struct CollectingWriter: ResponseBodyWriter {
    final class Sink: Sendable {
        let bytes = Mutex(ByteBuffer())
    }

    let sink: Sink

    mutating func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        _ = sink.bytes.withLock { $0.writeBuffer(&buffer) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
