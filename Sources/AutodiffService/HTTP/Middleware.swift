import AutodiffCore
import Crypto
import Hummingbird
import Logging

/// Turns every error into the contract's `{"error": {…}}` body: the only place that does.
/// Also logs each request, and every `500` with its underlying error.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: Routes
    let maxBodyBytes: Int
    /// How long an unread request body may take to drain before an early error answer.
    let drainTimeout: Duration
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let apiError = map(error, request: request)
            if apiError.status == .internalServerError {
                context.logger.error(
                    "request failed unexpectedly",
                    metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            }
            metrics.recordError(code: apiError.code)
            if apiError.isRaisedBeforeTheBody {
                await Self.drain(request.body, within: drainTimeout)
            }
            response = apiError.response()
        }
        context.logger.debug(
            "request finished",
            metadata: [
                "method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
                "status": "\(response.status.code)", "duration": "\(ContinuousClock.now - started)",
            ])
        return response
    }

    /// Reads and drops `body`, giving up after `timeout` (the connection is then closed).
    static func drain(_ body: RequestBody, within timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await _ in body {}
                } catch {
                    // The client went away; nothing left to drain.
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    func map(_ error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as AutodiffError:
            return APIError(error)
        case let error as any HTTPResponseError where error.status == .notFound:
            let methods = routes.methods(at: request.uri.path)
            if methods.isEmpty { return .notFound(request.uri.path) }
            return .methodNotAllowed(request.method, path: request.uri.path, allowed: methods)
        case let error as any HTTPResponseError where error.status == .contentTooLarge:
            return .payloadTooLarge(limit: maxBodyBytes)
        case let error as any HTTPResponseError where error.status.kind == .clientError:
            // Refusals from the HTTP layer itself are the client's doing, so never a 500.
            return APIError(
                status: .badRequest, code: "invalid_request",
                message: "the HTTP request was refused: \(error.status.code) \(error.status.reasonPhrase)")
        default:
            return .internal("unexpected \(type(of: error))")
        }
    }
}

/// When API keys are configured, `/v1/*` needs `Authorization: Bearer <key>` or `X-API-Key: <key>`.
/// Probes (`/healthz`, `/readyz`) stay open.
///
/// Keys are compared as SHA-256 digests, every configured key each time and without early exit, so
/// the time an answer takes says nothing about how much of a key was right.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    private let digests: [SHA256.Digest]

    init(keys: some Sequence<String>) {
        digests = keys.map { SHA256.hash(data: Array($0.utf8)) }
    }

    private func accepts(_ presented: String) -> Bool {
        let digest = SHA256.hash(data: Array(presented.utf8))
        var matched = false
        for key in digests {
            var difference: UInt8 = 0
            for (a, b) in zip(key, digest) { difference |= a ^ b }
            matched = matched || difference == 0
        }
        return matched
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        let bearer = request.headers[.authorization].flatMap { header -> String? in
            header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)) : nil
        }
        let presented = bearer ?? request.headers.first { $0.name.canonicalName == "x-api-key" }?.value
        guard let presented, accepts(presented) else { throw APIError.unauthorized }
        return try await next(request, context)
    }
}

extension APIError {
    /// Errors raised before a handler reads the request body. That body is read and dropped before
    /// the answer goes out: many clients send the whole body before reading a response, and the
    /// connection is closed unread once a response ends before its request does.
    var isRaisedBeforeTheBody: Bool {
        ["not_found", "method_not_allowed", "unauthorized", "overloaded", "shutting_down"].contains(code)
    }
}
