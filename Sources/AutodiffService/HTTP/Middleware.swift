import AutodiffCore
import Crypto
import Hummingbird
import Logging
import NIOHTTP1

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
            if Self.clientLeft(error) {
                // The client closed its connection; nobody reads this answer, and it is no error of ours.
                context.logger.debug("client went away", metadata: ["path": "\(request.uri.path)"])
                return apiError.response()
            }
            if apiError.status == .internalServerError {
                context.logger.error(
                    "request failed unexpectedly",
                    metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            }
            metrics.recordError(code: apiError.code)
            if apiError.code.isRaisedBeforeTheBody {
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

    /// Whether `error` means the client closed its connection: its call was dropped while waiting
    /// (`CancellationError`), or the connection ended in the middle of the request's body.
    static func clientLeft(_ error: any Error) -> Bool {
        switch error {
        case is CancellationError, HTTPParserError.invalidEOFState: true
        default: false
        }
    }

    func map(_ error: any Error, request: Request) -> APIError {
        if Self.clientLeft(error) {
            return APIError(code: .invalidRequest, message: "the client closed its connection before the answer")
        }
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
                code: .invalidRequest,
                message: "the HTTP request was refused: \(error.status.code) \(error.status.reasonPhrase)")
        default:
            return .internal("unexpected \(type(of: error))")
        }
    }
}

/// When API keys are configured, `/v1/*` needs `Authorization: Bearer <key>` or `X-API-Key: <key>`.
/// Probes (`/healthz`, `/readyz`) stay open.
///
/// Whether a request needs a key is decided by the route the router matched, not by the raw path:
/// the router drops empty segments, so `//v1/forward` and `/v1//forward` reach the `/v1/forward`
/// handler and must be held to its rule. A request that matched no route is judged by its path split
/// the router's way, so an unknown `/v1/…` path is still `401` without a key. Spellings the router
/// does not match (`/./v1/…`, `/v1/../v1/…`, `/%761/…`) reach no handler at all: they are `404`.
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
        guard Self.needsKey(route: context.endpointPath, path: request.uri.path) else {
            return try await next(request, context)
        }
        let bearer = request.headers[.authorization].flatMap { header -> String? in
            header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)) : nil
        }
        let presented = bearer ?? request.headers.first { $0.name.canonicalName == "x-api-key" }?.value
        guard let presented, accepts(presented) else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    /// Whether `route` (the matched route's path, nil when none matched) or else `path` is under `/v1`.
    static func needsKey(route: String?, path: String) -> Bool {
        (route ?? path).split(separator: "/", omittingEmptySubsequences: true).first == "v1"
    }
}
