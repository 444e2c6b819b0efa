import AutodiffCore
import Hummingbird

/// An error as the client sees it: HTTP status, contract code, message and the name at fault.
///
/// The status follows from the code (`ErrorCode.status`, one exhaustive switch), so the two can
/// never disagree. Core errors keep their code; transport errors have their own constructors;
/// anything unrecognised becomes `500 internal` (and is logged by the middleware).
public struct APIError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    public var node: String?
    /// Extra response headers (`Retry-After`, `Allow`, `WWW-Authenticate`).
    public var headers: HTTPFields

    public var status: HTTPResponse.Status { code.status }

    public init(code: ErrorCode, message: String, node: String? = nil, headers: HTTPFields = [:]) {
        self.code = code
        self.message = message
        self.node = node
        self.headers = headers
    }

    /// A core error, with its own code and the contract's status for it.
    public init(_ error: AutodiffError) {
        self.init(code: error.code, message: error.message, node: error.node)
    }

    // MARK: Transport errors

    static func invalidJSON(_ detail: String) -> APIError {
        APIError(code: .invalidJSON, message: "the request body is not valid JSON: \(detail)")
    }

    static func payloadTooLarge(limit: Int) -> APIError {
        APIError(
            code: .payloadTooLarge,
            message: "the request body is larger than the limit of \(limit) bytes (--max-body-bytes)")
    }

    static func notFound(_ path: String) -> APIError {
        APIError(code: .notFound, message: "no endpoint at \(path); see docs/API.md")
    }

    static func methodNotAllowed(
        _ method: HTTPRequest.Method, path: String, allowed: [HTTPRequest.Method]
    ) -> APIError {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        return APIError(
            code: .methodNotAllowed,
            message: "\(path) does not accept \(method.rawValue); it accepts \(allow)",
            headers: [.allow: allow])
    }

    static func overloaded(retryAfterSeconds: Int) -> APIError {
        APIError(
            code: .overloaded,
            message: "every worker is busy and the wait queue is full; retry after \(retryAfterSeconds) s",
            headers: [.retryAfter: String(retryAfterSeconds)])
    }

    static let shuttingDown = APIError(
        code: .shuttingDown,
        message: "the server is shutting down and takes no new work; retry on another replica")

    static func graphNotFound(_ id: String) -> APIError {
        APIError(
            code: .graphNotFound,
            message: "graph \(id) is not registered on this server (never registered, or evicted); "
                + "register it again with POST /v1/graphs", node: id)
    }

    static let unauthorized = APIError(
        code: .unauthorized,
        message: "this server requires an API key: send \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\"",
        headers: [.wwwAuthenticate: "Bearer"])

    static func `internal`(_ detail: String) -> APIError {
        APIError(
            code: .internal,
            message: "the server failed unexpectedly (\(detail)); this is a bug, please report it")
    }

    // MARK: Rendering

    /// `{"error": {"code", "message", "node"?}}`
    var body: JSONOutput {
        var fields: [(String, JSONOutput)] = [("code", .string(code.rawValue)), ("message", .string(message))]
        if let node { fields.append(("node", .string(node))) }
        return .object([("error", .object(fields))])
    }

    func response() -> Response {
        // An error body holds only strings, so serializing it cannot fail.
        let bytes = (try? body.serialized()) ?? Array("{\"error\":{\"code\":\"internal\",\"message\":\"\"}}".utf8)
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension APIError: CustomStringConvertible {
    public var description: String { "\(status.code) \(code.rawValue): \(message)" }
}

extension ErrorCode {
    /// The contract's HTTP status for this code (CONTRACT.md, "Errors").
    public var status: HTTPResponse.Status {
        switch self {
        case .invalidJSON, .invalidRequest: .badRequest
        case .unauthorized: .unauthorized
        case .graphNotFound, .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .payloadTooLarge, .limitExceeded: .contentTooLarge
        case .unknownOp, .unknownName, .duplicateName, .cycle, .arity, .invalidAttribute, .shapeMismatch,
            .seedRequired, .seedShapeMismatch, .unconnectedInput:
            .unprocessableContent
        case .overloaded, .shuttingDown: .serviceUnavailable
        case .deadlineExceeded: .gatewayTimeout
        case .rendererUnavailable: .notImplemented
        case .internal: .internalServerError
        }
    }

    /// Codes answered before a handler reads the request body. That body is read and dropped before
    /// the answer goes out: many clients send the whole body before reading a response, and the
    /// connection is closed unread once a response ends before its request does. Every other code
    /// comes after the handler has read the body (or started to): it must not be read again.
    /// (`overloaded` and `shutting_down` come after it too: bodies are read before admission.)
    var isRaisedBeforeTheBody: Bool {
        switch self {
        case .notFound, .methodNotAllowed, .unauthorized: true
        case .invalidJSON, .invalidRequest, .graphNotFound, .payloadTooLarge, .limitExceeded, .unknownOp,
            .unknownName, .duplicateName, .cycle, .arity, .invalidAttribute, .shapeMismatch, .seedRequired,
            .seedShapeMismatch, .unconnectedInput, .overloaded, .shuttingDown, .deadlineExceeded,
            .rendererUnavailable, .internal:
            false
        }
    }
}
