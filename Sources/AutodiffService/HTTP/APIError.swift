import AutodiffCore
import Hummingbird

/// An error as the client sees it: HTTP status, contract code, message and the name at fault.
///
/// This is the one place that decides statuses. Core errors map by case; transport errors have their
/// own constructors; anything unrecognised becomes `500 internal` (and is logged by the middleware).
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var node: String?
    /// Extra response headers (`Retry-After`, `Allow`, `WWW-Authenticate`).
    public var headers: HTTPFields

    public init(
        status: HTTPResponse.Status, code: String, message: String, node: String? = nil, headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.node = node
        self.headers = headers
    }

    /// The contract's status for each core error, keyed by its contract code (the contract's table).
    /// A code the table does not know is a broken invariant and answers 500.
    public init(_ error: AutodiffError) {
        let status: HTTPResponse.Status =
            switch error.code {
            case "invalid_request": .badRequest
            case "limit_exceeded": .contentTooLarge
            case "deadline_exceeded": .gatewayTimeout
            case "unknown_op", "unknown_name", "duplicate_name", "cycle", "arity", "invalid_attribute",
                "shape_mismatch", "seed_required", "seed_shape_mismatch", "unconnected_input":
                .unprocessableContent
            default: .internalServerError
            }
        self.init(
            status: status, code: status == .internalServerError ? "internal" : error.code,
            message: error.message, node: error.node)
    }

    // MARK: Transport errors

    static func invalidJSON(_ detail: String) -> APIError {
        APIError(status: .badRequest, code: "invalid_json", message: "the request body is not valid JSON: \(detail)")
    }

    static func payloadTooLarge(limit: Int) -> APIError {
        APIError(
            status: .contentTooLarge, code: "payload_too_large",
            message: "the request body is larger than the limit of \(limit) bytes (--max-body-bytes)")
    }

    static func notFound(_ path: String) -> APIError {
        APIError(status: .notFound, code: "not_found", message: "no endpoint at \(path); see docs/API.md")
    }

    static func methodNotAllowed(
        _ method: HTTPRequest.Method, path: String, allowed: [HTTPRequest.Method]
    ) -> APIError {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        return APIError(
            status: .methodNotAllowed, code: "method_not_allowed",
            message: "\(path) does not accept \(method.rawValue); it accepts \(allow)",
            headers: [.allow: allow])
    }

    static func overloaded(retryAfterSeconds: Int) -> APIError {
        APIError(
            status: .serviceUnavailable, code: "overloaded",
            message: "every worker is busy and the wait queue is full; retry after \(retryAfterSeconds) s",
            headers: [.retryAfter: String(retryAfterSeconds)])
    }

    static let shuttingDown = APIError(
        status: .serviceUnavailable, code: "shutting_down",
        message: "the server is shutting down and takes no new work; retry on another replica")

    static func graphNotFound(_ id: String) -> APIError {
        APIError(
            status: .notFound, code: "graph_not_found",
            message: "graph \(id) is not registered on this server (never registered, or evicted); "
                + "register it again with POST /v1/graphs", node: id)
    }

    static let unauthorized = APIError(
        status: .unauthorized, code: "unauthorized",
        message: "this server requires an API key: send \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\"",
        headers: [.wwwAuthenticate: "Bearer"])

    static func `internal`(_ detail: String) -> APIError {
        APIError(
            status: .internalServerError, code: "internal",
            message: "the server failed unexpectedly (\(detail)); this is a bug, please report it")
    }

    // MARK: Rendering

    /// `{"error": {"code", "message", "node"?}}`
    var body: JSONOutput {
        var fields: [(String, JSONOutput)] = [("code", .string(code)), ("message", .string(message))]
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
    public var description: String { "\(status.code) \(code): \(message)" }
}
