import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A client for an autodiffd server, on Foundation's `URLSession`.
///
/// ```swift
/// let client = AutodiffClient(baseURL: URL(string: "http://127.0.0.1:8080")!)
/// var g = GraphBuilder()
/// let x = g.input("x")
/// let y = g.mul(x, x, name: "y")
/// let result = try await client.backward(BackwardRequest(
///     graph: .inline(g.graph), values: ["x": Tensor([1, 2, 3])], outputs: [y.name], seeds: [y.name: .ones]))
/// result.gradients["x"]  // [2, 4, 6]: the gradient of Σy
/// ```
///
/// Tensors travel as base64 float64 both ways by default (`options.encoding: "base64"`). A `503 overloaded` is retried
/// after its `Retry-After` within `Configuration.retry`'s bounds; a call by id that meets `404 graph_not_found`
/// (a restarted or another replica) registers the graph again, once, if this client registered it.
public final class AutodiffClient: Sendable {
    /// How the client talks to the server.
    public struct Configuration: Sendable {
        /// Seconds one HTTP exchange may take before it fails with `AutodiffClientError.transport`.
        public var timeout: Double = 60
        /// Sent as `Authorization: Bearer <key>` when set.
        public var apiKey: String?
        public var retry = RetryPolicy()
        /// How tensors are sent, and asked for in responses (`options.encoding`).
        public var tensorEncoding = TensorEncoding.base64

        public init(
            timeout: Double = 60, apiKey: String? = nil, retry: RetryPolicy = RetryPolicy(),
            tensorEncoding: TensorEncoding = .base64
        ) {
            self.timeout = timeout
            self.apiKey = apiKey
            self.retry = retry
            self.tensorEncoding = tensorEncoding
        }
    }

    /// Bounds on retrying `503 overloaded`: at most `maxAttempts` sends, at most `maxTotalWait` seconds of
    /// waiting in all. Each wait is the server's `Retry-After`, else `initialBackoff` doubling per attempt.
    public struct RetryPolicy: Sendable {
        public var maxAttempts = 4
        public var maxTotalWait: Double = 10
        public var initialBackoff: Double = 0.25

        public init(maxAttempts: Int = 4, maxTotalWait: Double = 10, initialBackoff: Double = 0.25) {
            self.maxAttempts = maxAttempts
            self.maxTotalWait = maxTotalWait
            self.initialBackoff = initialBackoff
        }
    }

    /// `svg` needs Graphviz on the server.
    public enum ExplainFormat: String, Sendable {
        case dot, svg
    }

    public let baseURL: URL
    public let configuration: Configuration
    private let session: URLSession
    /// Graphs this client registered, by id, to register again where the server has forgotten them.
    private let registered = Mutex<[String: GraphDescription]>([:])

    public init(baseURL: URL, configuration: Configuration = Configuration()) {
        self.baseURL = baseURL
        self.configuration = configuration
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.timeoutIntervalForRequest = configuration.timeout
        sessionConfiguration.timeoutIntervalForResource = configuration.timeout
        self.session = URLSession(configuration: sessionConfiguration)
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    // MARK: Endpoints

    /// `POST /v1/backward`.
    public func backward(_ request: BackwardRequest) async throws(AutodiffClientError) -> BackwardResponse {
        try await byGraph(request.graph) { graph throws(AutodiffClientError) in
            let body = RequestBody(
                graph: graph, values: request.values, outputs: request.outputs,
                seeds: request.seeds.isEmpty ? nil : request.seeds.mapValues(WireSeed.init), wrt: request.wrt,
                options: .init(
                    unconnected: request.unconnected?.rawValue, batched: request.batched ? true : nil,
                    returnGraph: request.returnGraph ? true : nil))
            let wire: WireBackward = try await self.post("/v1/backward", body)
            return BackwardResponse(
                outputs: wire.outputs, gradients: wire.gradients, unconnected: wire.unconnected,
                backwardGraph: wire.backwardGraph)
        }
    }

    /// `POST /v1/forward`.
    public func forward(_ request: ForwardRequest) async throws(AutodiffClientError) -> ForwardResponse {
        try await byGraph(request.graph) { graph throws(AutodiffClientError) in
            let body = RequestBody(graph: graph, values: request.values, outputs: request.outputs)
            let wire: WireOutputs = try await self.post("/v1/forward", body)
            return ForwardResponse(outputs: wire.outputs)
        }
    }

    /// `POST /v1/jacobian`.
    public func jacobian(_ request: JacobianRequest) async throws(AutodiffClientError) -> JacobianResponse {
        try await byGraph(request.graph) { graph throws(AutodiffClientError) in
            let body = RequestBody(graph: graph, values: request.values, outputs: request.outputs, wrt: request.wrt)
            let wire: WireJacobian = try await self.post("/v1/jacobian", body)
            return JacobianResponse(outputs: wire.outputs, jacobian: wire.jacobian)
        }
    }

    /// `POST /v1/jvp`.
    public func jvp(_ request: JVPRequest) async throws(AutodiffClientError) -> JVPResponse {
        try await byGraph(request.graph) { graph throws(AutodiffClientError) in
            let body = RequestBody(
                graph: graph, values: request.values, outputs: request.outputs, tangents: request.tangents)
            let wire: WireJVP = try await self.post("/v1/jvp", body)
            return JVPResponse(outputs: wire.outputs, tangents: wire.tangents)
        }
    }

    /// `POST /v1/hvp`.
    public func hvp(_ request: HVPRequest) async throws(AutodiffClientError) -> HVPResponse {
        try await byGraph(request.graph) { graph throws(AutodiffClientError) in
            let body = RequestBody(
                graph: graph, values: request.values, output: request.output, wrt: request.wrt,
                vectors: request.vectors)
            let wire: WireHVP = try await self.post("/v1/hvp", body)
            return HVPResponse(output: wire.output, gradients: wire.gradients, hvp: wire.hvp)
        }
    }

    /// `POST /v1/explain`: the backward call drawn as Graphviz DOT, or SVG rendered by the server.
    public func explain(
        _ request: BackwardRequest, format: ExplainFormat = .dot
    ) async throws(AutodiffClientError) -> String {
        try await byGraph(request.graph) { graph throws(AutodiffClientError) in
            let body = RequestBody(
                graph: graph, values: request.values, outputs: request.outputs,
                seeds: request.seeds.isEmpty ? nil : request.seeds.mapValues(WireSeed.init), wrt: request.wrt,
                options: .init(unconnected: request.unconnected?.rawValue))
            let path = format == .dot ? "/v1/explain" : "/v1/explain?format=svg"
            let (data, _) = try await self.send("POST", path, body: try self.encode(body))
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// `POST /v1/graphs`; the client remembers the graph to register it again if a server forgets it.
    @discardableResult
    public func register(_ graph: GraphDescription) async throws(AutodiffClientError) -> Registration {
        struct Body: Encodable { let graph: GraphDescription }
        let (data, _) = try await send("POST", "/v1/graphs", body: try encode(Body(graph: graph)))
        let registration: Registration = try Self.decode(data, status: 201)
        registered.withLock { $0[registration.graphID] = graph }
        return registration
    }

    /// `GET /v1/graphs/{id}`: the graph in the server's canonical form.
    public func graph(id: String) async throws(AutodiffClientError) -> GraphDescription {
        let escaped = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id
        let (data, _) = try await send("GET", "/v1/graphs/\(escaped)", body: nil)
        return try Self.decode(data, status: 200)
    }

    /// `GET /v1/ops`.
    public func ops() async throws(AutodiffClientError) -> OpsCatalog {
        let (data, _) = try await send("GET", "/v1/ops", body: nil)
        return try Self.decode(data, status: 200)
    }

    // MARK: Registration and retry

    /// Runs `call`; when it names a graph id the server does not hold but this client registered,
    /// registers that graph again and repeats the call once with the id the server gives back.
    private func byGraph<T>(
        _ source: GraphSource, _ call: (GraphSource) async throws(AutodiffClientError) -> T
    ) async throws(AutodiffClientError) -> T {
        do {
            return try await call(source)
        } catch {
            guard error.code == "graph_not_found", case .id(let id) = source,
                let graph = registered.withLock({ $0[id] })
            else { throw error }
            let registration = try await register(graph)
            return try await call(.id(registration.graphID))
        }
    }

    private func post<Response: Decodable>(
        _ path: String, _ body: RequestBody
    ) async throws(AutodiffClientError) -> Response {
        var body = body
        body.options.encoding = configuration.tensorEncoding.rawValue
        let (data, status) = try await send("POST", path, body: try encode(body))
        return try Self.decode(data, status: status)
    }

    /// One exchange, repeated on `503 overloaded` within the retry bounds. Any non-2xx answer throws.
    private func send(
        _ method: String, _ path: String, body: Data?
    ) async throws(AutodiffClientError) -> (Data, Int) {
        guard let url = URL(string: path, relativeTo: baseURL) else {
            throw .transport("cannot form a URL from \(baseURL) and \(path)")
        }
        var request = URLRequest(url: url, timeoutInterval: configuration.timeout)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let key = configuration.apiKey { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }

        let policy = configuration.retry
        var waited = 0.0
        var attempt = 1
        while true {
            let data: Data
            let response: HTTPURLResponse
            do {
                let (bytes, answer) = try await session.data(for: request)
                guard let http = answer as? HTTPURLResponse else {
                    throw AutodiffClientError.transport("the answer to \(method) \(path) is not HTTP")
                }
                (data, response) = (bytes, http)
            } catch let error as AutodiffClientError {
                throw error
            } catch {
                throw .transport("\(method) \(url.absoluteString): \(error.localizedDescription)")
            }
            if (200..<300).contains(response.statusCode) { return (data, response.statusCode) }
            let error = Self.serverError(data, status: response.statusCode)
            guard error.code == "overloaded", attempt < policy.maxAttempts else { throw error }
            let backoff = policy.initialBackoff * Double(1 << Swift.min(attempt - 1, 20))
            let delay = response.value(forHTTPHeaderField: "Retry-After").flatMap(Double.init) ?? backoff
            guard waited + delay <= policy.maxTotalWait else { throw error }
            do {
                try await Task.sleep(for: .seconds(delay))
            } catch {
                throw .transport("cancelled while waiting to retry \(method) \(path)")
            }
            waited += delay
            attempt += 1
        }
    }

    // MARK: Coding

    private func encode<T: Encodable>(_ value: T) throws(AutodiffClientError) -> Data {
        do {
            return try WireCoding.encoder(tensors: configuration.tensorEncoding).encode(value)
        } catch {
            throw .transport("cannot encode the request: \(error)")
        }
    }

    private static func decode<T: Decodable>(_ data: Data, status: Int) throws(AutodiffClientError) -> T {
        do {
            return try WireCoding.decoder().decode(T.self, from: data)
        } catch {
            throw .invalidResponse(status: status, detail: "unexpected response body: \(error)")
        }
    }

    /// The contract's `{"error": {"code", "message", "node"}}`, or what came instead.
    private static func serverError(_ data: Data, status: Int) -> AutodiffClientError {
        guard let body = try? WireCoding.decoder().decode(JSON.self, from: data), let error = body["error"],
            let code = error["code"]?.stringValue
        else {
            return .invalidResponse(
                status: status,
                detail: "HTTP \(status) without an error body: \(String(decoding: data, as: UTF8.self))")
        }
        return .server(
            status: status, code: code, message: error["message"]?.stringValue ?? "", node: error["node"]?.stringValue)
    }
}

// MARK: - Wire bodies

/// Every field any endpoint reads; `nil` fields are left out.
private struct RequestBody: Encodable {
    var graph: GraphDescription?
    var graphID: String?
    var values: [String: Tensor]
    var outputs: [String]?
    var output: String?
    var seeds: [String: WireSeed]?
    var wrt: [String]?
    var tangents: [String: Tensor]?
    var vectors: [String: Tensor]?
    var options: Options

    struct Options: Encodable {
        var encoding = "base64"
        var unconnected: String?
        var batched: Bool?
        var returnGraph: Bool?

        enum CodingKeys: String, CodingKey {
            case encoding, unconnected, batched
            case returnGraph = "return_graph"
        }
    }

    init(
        graph source: GraphSource, values: [String: Tensor], outputs: [String]? = nil, output: String? = nil,
        seeds: [String: WireSeed]? = nil, wrt: [String]? = nil, tangents: [String: Tensor]? = nil,
        vectors: [String: Tensor]? = nil, options: Options = Options()
    ) {
        switch source {
        case .inline(let graph): self.graph = graph
        case .id(let id): self.graphID = id
        }
        self.values = values
        self.outputs = outputs
        self.output = output
        self.seeds = seeds
        self.wrt = wrt
        self.tangents = tangents
        self.vectors = vectors
        self.options = options
    }

    enum CodingKeys: String, CodingKey {
        case graph, values, outputs, output, seeds, wrt, tangents, vectors, options
        case graphID = "graph_id"
    }
}

private struct WireSeed: Encodable {
    let seed: Seed

    init(_ seed: Seed) { self.seed = seed }

    func encode(to encoder: Encoder) throws {
        switch seed {
        case .ones:
            var container = encoder.singleValueContainer()
            try container.encode("ones")
        case .tensor(let tensor):
            try tensor.encode(to: encoder)
        }
    }
}

private struct WireOutputs: Decodable {
    let outputs: [String: Tensor]
}

private struct WireBackward: Decodable {
    let outputs: [String: Tensor]
    let gradients: [String: Tensor?]
    let unconnected: [String]
    let backwardGraph: BackwardGraph?

    enum CodingKeys: String, CodingKey {
        case outputs, gradients, unconnected
        case backwardGraph = "backward_graph"
    }
}

private struct WireJacobian: Decodable {
    let outputs: [String: Tensor]
    let jacobian: [String: [String: Tensor]]
}

private struct WireJVP: Decodable {
    let outputs: [String: Tensor]
    let tangents: [String: Tensor]
}

private struct WireHVP: Decodable {
    let output: Tensor
    let gradients: [String: Tensor]
    let hvp: [String: Tensor]
}
