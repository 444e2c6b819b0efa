import AutodiffCore
import Hummingbird
import Logging
import Synchronization

/// The request handlers. Each compute call goes: collect the body (bounded in size and time) → take an
/// admission slot → one worker job that parses, validates, looks up a registered graph, runs the core
/// and renders the response bytes.
///
/// The body is read *before* admission, so clients that upload slowly hold a connection but never a
/// slot: they cannot make everyone else's calls `503 overloaded`.
struct AutodiffAPI: Sendable {
    let configuration: ServiceConfiguration
    let pool: WorkerPool
    let graphs: GraphCache
    /// Programs prepared for recent calls (graph, input shapes, request), reused by repeated calls;
    /// a program of a graph of `--max-nodes` nodes fits.
    let plans: PlanCache
    let readiness: Readiness
    /// `GET /v1/ops`, built once from the op table.
    let opsCatalog: [UInt8]

    let metrics: ServiceMetrics
    /// Bytes of request bodies being received, bounded because bodies are read before admission.
    let uploads: ByteBudget
    /// Bytes of answers rendered and not yet written, bounded because a client that stops reading
    /// holds its answer (and its call's slot is free again): past it, `503 overloaded`.
    let answers: ByteBudget

    init(configuration: ServiceConfiguration, readiness: Readiness, pool: WorkerPool, metrics: ServiceMetrics) {
        self.configuration = configuration
        self.pool = pool
        self.metrics = metrics
        metrics.workers.record(pool.workers)
        self.graphs = GraphCache(capacity: configuration.graphCacheSize, maxBytes: configuration.graphCacheBytes)
        self.plans = PlanCache(maxSlots: PlanCache.maxSlots(forGraphsOf: configuration.limits.maxNodes))
        self.readiness = readiness
        self.opsCatalog = (try? OpsCatalog.document.serialized()) ?? []
        // As many bodies of the largest size as calls can be admitted, however they are spread.
        let (budget, overflow) = (pool.workers + pool.queueDepth).multipliedReportingOverflow(
            by: configuration.maxBodyBytes)
        self.uploads = ByteBudget(limit: overflow ? .max : budget)
        // As many answers of the largest size as calls can compute at once.
        let (answerBudget, answerOverflow) = pool.workers.multipliedReportingOverflow(
            by: configuration.limits.maxBytes)
        self.answers = ByteBudget(limit: answerOverflow ? .max : answerBudget)
    }

    // MARK: Compute endpoints

    /// `POST /v1/forward`, `/v1/backward`, `/v1/jacobian`, `/v1/jvp`, `/v1/hvp`.
    func compute<C: Computation>(
        _ computation: C.Type, _ request: Request, _ context: ServiceRequestContext
    ) async throws -> Response {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        let client = context.clientPresence
        let body = try await collect(request, client: client, deadline: deadline)
        guard readiness.isAccepting else { throw APIError.shuttingDown }
        return try await admitted { try await compute(C.self, body, client: client, deadline: deadline) }
    }

    private func compute<C: Computation>(
        _ computation: C.Type, _ body: [UInt8], client: ClientPresence?, deadline: Deadline
    ) async throws -> Response {
        let limits = configuration.limits
        let (graphs, plans) = (self.graphs, self.plans)
        // One worker job does everything after the body arrives, so the call hops event loop →
        // worker → event loop once.
        let pieces = try await work(deadline: deadline, client: client) {
            try Self.respond(C.self, to: body, limits: limits, graphs: graphs, plans: plans, deadline: deadline)
        }
        return try answer(pieces, to: client)
    }

    /// Everything a compute call does once its body has arrived: parse, validate, look up a
    /// registered graph, compute and render. Runs on a worker (and in the request-body fuzzer).
    /// Returns the response body: one buffer, or several in order for a big one (`JSONWriter.pieceCapacity`).
    static func respond<C: Computation>(
        _ computation: C.Type, to body: [UInt8], limits: Limits, graphs: GraphCache, plans: PlanCache,
        deadline: Deadline
    ) throws -> [ByteBuffer] {
        let (call, object) = try decodeCall(body, limits: limits, graphs: graphs)
        let parsed = try C(request: object, call: call, limits: limits)
        let graph = try graphs.graph(for: call.graph)
        var callLimits = limits
        callLimits.resultBytesPerElement = call.options.encoding.renderedBytesPerElement
        return try parsed.run(on: graph, call: call, limits: callLimits, deadline: deadline, plans: plans)
            .serializedPieces()
    }

    /// The shared fields of a call's body and the whole request object. A `"graph"` whose exact text
    /// an earlier call sent is not parsed or validated again: `graphs` hands back its `Graph`.
    static func decodeCall(
        _ body: [UInt8], limits: Limits, graphs: GraphCache
    ) throws -> (CallRequest, WireObject) {
        var known: Graph?
        let (document, graph) = try parse(body, offering: "graph") { text in
            known = graphs.inlineGraph(text, limits: limits)
            return known != nil
        }
        let reused = graph?.reused == true ? known : nil
        let (call, object) = try CallRequest.decode(document, reusing: reused, limits: limits)
        if reused == nil, let graph, case .inline(let validated) = call.graph {
            graphs.keepInline(validated, text: body[graph.span], limits: limits)
        }
        return (call, object)
    }

    // MARK: Registered graphs

    /// `POST /v1/graphs {"graph": {…}}` → 201 `{"graph_id", "inputs", "nodes"}`.
    func register(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        let client = context.clientPresence
        let body = try await collect(request, client: client, deadline: deadline)
        guard readiness.isAccepting else { throw APIError.shuttingDown }
        return try await admitted { try await register(body, client: client, deadline: deadline) }
    }

    private func register(_ body: [UInt8], client: ClientPresence?, deadline: Deadline) async throws -> Response {
        let limits = configuration.limits
        let graphs = self.graphs
        let (id, reply) = try await work(deadline: deadline, client: client) {
            try Self.register(body, limits: limits, graphs: graphs)
        }
        var response = Self.json(reply, status: .created)
        response.headers[.location] = "/v1/graphs/\(id)"
        return response
    }

    /// What registering a graph does once the body has arrived: parse, validate, store. Returns the
    /// graph's id and the rendered reply. Runs on a worker (and in the request-body fuzzer).
    static func register(_ body: [UInt8], limits: Limits, graphs: GraphCache) throws -> (String, ByteBuffer) {
        let request = try WireObject(try Self.parse(body), what: "request")
        guard let graphValue = request["graph"] else {
            throw AutodiffError.invalidRequest("request needs \"graph\": the graph to register")
        }
        let graph = try Graph(WireGraph.decode(graphValue, limits: limits), limits: limits)
        let spec = graph.spec
        let canonical = try WireGraph.encode(spec).serialized()
        let registered = RegisteredGraph(
            id: WireGraph.id(ofCanonical: canonical), graph: graph, canonicalJSON: canonical,
            nodeCount: spec.nodes.count, byteCount: GraphCache.keepingCost(textBytes: canonical.count))
        try graphs.insert(registered)
        let reply: JSONOutput = .object([
            ("graph_id", .string(registered.id)),
            ("inputs", .array(registered.graph.inputs.map(JSONOutput.string))),
            ("nodes", .integer(registered.nodeCount)),
        ])
        return (registered.id, try reply.serializedBuffer())
    }

    /// `GET /v1/graphs/{id}` → the graph in its canonical form.
    func registeredGraph(_ id: String, client: ClientPresence?) async throws -> Response {
        guard let registered = graphs.graph(id) else { throw APIError.graphNotFound(id) }
        return try answer([ByteBuffer(bytes: registered.canonicalJSON)], to: client)
    }

    // MARK: Catalogue and probes

    func ops() -> Response {
        Self.json(opsCatalog)
    }

    func health() -> Response {
        Self.json(Array(#"{"status":"ok"}"#.utf8))
    }

    /// 200 with the pool's load while accepting work, `503 shutting_down` while draining.
    func ready() throws -> Response {
        guard readiness.isAccepting else { throw APIError.shuttingDown }
        let load = pool.load
        let body: JSONOutput = .object([
            ("status", .string("ready")),
            ("workers", .integer(pool.workers)), ("busy", .integer(load.running)), ("queued", .integer(load.waiting)),
        ])
        return Self.json((try? body.serialized()) ?? [])
    }

    /// `GET /metrics`: the gauges are sampled now, then everything is rendered.
    func metrics(_ exporter: MetricsExporter) async -> Response {
        let load = pool.load
        metrics.busyWorkers.record(load.running)
        metrics.queuedJobs.record(load.waiting)
        metrics.registeredGraphs.record(graphs.count)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: exporter.render())))
    }

    // MARK: Plumbing

    /// The body, refused with `413 payload_too_large` past `maxBodyBytes`.
    ///
    /// An oversized body is still read to its end (and dropped) before the answer goes out: many
    /// clients send the whole body before they read a response, and would wait forever on a server
    /// that stopped reading. A body still arriving after `--body-timeout` (or at the call's deadline,
    /// if sooner) ends the call with `504 deadline_exceeded` (`413` if it was already known to be too
    /// large); it never held an admission slot. The bytes of all bodies being received at once are
    /// bounded by `uploads`: past it, `503 overloaded`.
    ///
    /// A body that has already all arrived (`client.bodyHasArrived`, the usual case for small calls) is
    /// read at once, without racing a timer.
    func collect(
        _ request: Request, client: ClientPresence?, deadline callDeadline: Deadline
    ) async throws -> [UInt8] {
        let deadline = min(callDeadline, ContinuousClock.now + configuration.bodyTimeout)
        let (limit, uploads, retryAfter) = (configuration.maxBodyBytes, uploads, configuration.retryAfterSeconds)
        let declaredLength = request.headers[.contentLength].flatMap(Int.init)
        let declaredTooLarge = declaredLength.map { $0 > limit } ?? false
        let read = { @Sendable () async throws -> [UInt8] in
            try await Self.read(
                request.body, declaredLength: declaredLength, limit: limit, uploads: uploads,
                retryAfter: retryAfter)
        }
        if client?.bodyHasArrived == true { return try await read() }
        return try await withThrowingTaskGroup(of: [UInt8].self) { group in
            group.addTask(operation: read)
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                if declaredTooLarge { throw APIError.payloadTooLarge(limit: limit) }
                throw AutodiffError.deadlineExceeded(
                    "the request body was still arriving at its deadline (--body-timeout, --request-timeout)")
            }
            defer { group.cancelAll() }
            guard let body = try await group.next() else { throw APIError.internal("no body and no timeout") }
            return body
        }
    }

    /// Reads `body` to its end, keeping at most `limit` bytes (`413` past it) within the `uploads` budget.
    /// Every byte received, kept or not, is counted for the request log (`BodyMeter`).
    private static func read(
        _ body: RequestBody, declaredLength: Int?, limit: Int, uploads: ByteBudget, retryAfter: Int
    ) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        var tooLarge = declaredLength.map { $0 > limit } ?? false
        var received = 0
        defer {
            uploads.release(bytes.count)
            BodyMeter.current?.add(received)
        }
        for try await chunk in body {
            received += chunk.readableBytes
            if tooLarge { continue }
            guard bytes.count + chunk.readableBytes <= limit else {
                tooLarge = true
                uploads.release(bytes.count)
                bytes = []
                continue
            }
            guard uploads.reserve(chunk.readableBytes) else {
                throw APIError.overloaded(retryAfterSeconds: retryAfter)
            }
            if bytes.isEmpty, let declaredLength, declaredLength <= limit {
                // The declared length is checked by the HTTP parser, so a large body grows no more than once.
                bytes.reserveCapacity(max(declaredLength, chunk.readableBytes))
            }
            bytes.append(contentsOf: chunk.readableBytesView)
        }
        if tooLarge { throw APIError.payloadTooLarge(limit: limit) }
        return bytes
    }

    /// Admits one call to the pool, or answers `503 overloaded` at once when it is full.
    func admitted(_ call: () async throws -> Response) async throws -> Response {
        do {
            return try await pool.admit(call)
        } catch is WorkerPool.Full {
            throw APIError.overloaded(retryAfterSeconds: configuration.retryAfterSeconds)
        }
    }

    /// Runs `body` on a worker; a job that waited past its deadline is `504 deadline_exceeded`, one
    /// still unfinished when the shutdown grace ends is `503 shutting_down`. A job still waiting for a
    /// worker when `client` closes its connection is dropped, never computed for nobody.
    func work<T: Sendable>(
        deadline: Deadline, client: ClientPresence?, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        do {
            return try await pool.run(droppedWhenGone: client) {
                guard ContinuousClock.now < deadline else {
                    throw AutodiffError.deadlineExceeded(
                        "the request waited for a worker past its deadline (--request-timeout)")
                }
                return try body()
            }
        } catch is WorkerPool.Stopped {
            throw APIError.shuttingDown
        }
    }

    static func parse(_ body: [UInt8]) throws -> JSONValue {
        try parse(body, offering: nil) { _ in false }.value
    }

    /// The body as JSON (`JSONParser.parse(_:offering:sharedRunBytes:to:)`), its errors as the API reports them.
    static func parse(
        _ body: [UInt8], offering key: String?, to reuse: @escaping (UnsafeBufferPointer<UInt8>) -> Bool
    ) throws -> (value: JSONValue, offered: JSONParser.OfferedMember?) {
        do {
            return try JSONParser.parse(body, offering: key, to: reuse)
        } catch .malformed(let reason, let offset) {
            throw APIError.invalidJSON("\(reason) at byte \(offset)")
        } catch .tooDeep {
            throw APIError.invalidJSON("arrays and objects nest deeper than \(JSONParser.maxDepth) levels")
        } catch .numberOutOfRange(let text) {
            throw AutodiffError.invalidRequest(
                "the number \(text) is outside the float64 range; write \"Infinity\" or \"-Infinity\" for infinities")
        }
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        json(ByteBuffer(bytes: bytes), status: status)
    }

    static func json(_ buffer: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    /// Answers up to this size are not counted in `answers`: a connection holds at most one, and they
    /// keep Hummingbird's single-write path for a body of one buffer (most calls).
    static let smallAnswer = 64 << 10

    /// An answer in pieces, sent one after the other under one `Content-Length`, its bytes held in the
    /// `answers` budget until it has been sent to `client` or the client is gone (`503 overloaded` when
    /// the budget is spent; an answer alone always goes).
    func answer(
        _ pieces: [ByteBuffer], to client: ClientPresence?, contentType: String = "application/json"
    ) throws -> Response {
        let size = pieces.reduce(0) { $0 + $1.readableBytes }
        if pieces.count <= 1, size <= Self.smallAnswer {
            let body = ResponseBody(byteBuffer: pieces.first ?? ByteBuffer())
            return Response(status: .ok, headers: [.contentType: contentType], body: body)
        }
        guard answers.reserve(size, evenAloneOverLimit: true) else {
            throw APIError.overloaded(retryAfterSeconds: configuration.retryAfterSeconds)
        }
        let held = HeldBytes(size, of: answers)
        let body = ResponseBody(contentLength: size) { writer in
            defer { withExtendedLifetime(held) {} }
            try await writer.write(contentsOf: pieces)
            try await writer.finish(nil)
            // The writes above return once the answer is queued, not sent.
            await client?.written()
        }
        return Response(status: .ok, headers: [.contentType: contentType], body: body)
    }
}

/// A bound on bytes held at once by concurrent holders, without waiting: `reserve` says no instead.
final class ByteBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes `count` bytes if they fit, or with `evenAloneOverLimit` if nothing else is held.
    func reserve(_ count: Int, evenAloneOverLimit: Bool = false) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard count <= limit - current || (evenAloneOverLimit && current == 0) else { return false }
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + count, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func release(_ count: Int) {
        used.subtract(count, ordering: .relaxed)
    }
}

/// Bytes reserved in a `ByteBudget` until this is let go.
final class HeldBytes: Sendable {
    let count: Int
    let budget: ByteBudget

    init(_ count: Int, of budget: ByteBudget) {
        self.count = count
        self.budget = budget
    }

    deinit {
        budget.release(count)
    }
}
