import AutodiffCore
import Hummingbird

extension AutodiffAPI {
    /// Content types of `POST /v1/explain`.
    static let dotContentType = "text/vnd.graphviz; charset=utf-8"
    static let svgContentType = "image/svg+xml"

    /// `POST /v1/explain[?format=svg]`: the body of `/v1/backward`, answered with a picture of the call (see
    /// `ExplainDOT`). Admitted, bounded and timed like the compute endpoints; `svg` runs Graphviz's `dot`
    /// on a worker until the call's deadline, and is `501 renderer_unavailable` where `dot` is not installed.
    func explain(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        let client = context.clientPresence
        let body = try await collect(request, client: client, deadline: deadline)
        guard readiness.isAccepting else { throw APIError.shuttingDown }
        let svg: Bool
        switch request.uri.queryParameters["format"] {
        case nil, "dot"?: svg = false
        case "svg"?: svg = true
        case let other?:
            throw AutodiffError.invalidRequest("format=\(other) is not a format; use dot (the default) or svg")
        }
        return try await admitted { try await explain(body, svg: svg, client: client, deadline: deadline) }
    }

    private func explain(
        _ body: [UInt8], svg: Bool, client: ClientPresence?, deadline: Deadline
    ) async throws -> Response {
        let (limits, graphs) = (configuration.limits, self.graphs)
        let (call, backward) = try await work(deadline: deadline, client: client) {
            () throws -> (CallRequest, BackwardComputation) in
            let (call, object) = try Self.decodeCall(body, limits: limits, graphs: graphs)
            return (call, try BackwardComputation(request: object, call: call, limits: limits))
        }
        let graph = try graphs.graph(for: call.graph)
        let dot = try await work(deadline: deadline, client: client) { () throws -> String in
            try Self.explainDOT(graph: graph, call: call, backward: backward, limits: limits, deadline: deadline)
        }
        guard svg else {
            return try answer([ByteBuffer(bytes: Array(dot.utf8))], to: client, contentType: Self.dotContentType)
        }
        let image = try await work(deadline: deadline, client: client) { () throws -> [UInt8] in
            do {
                return try Graphviz.svg(dot, timeout: deadline - ContinuousClock.now)
            } catch Graphviz.Failure.notInstalled {
                throw APIError(
                    code: .rendererUnavailable,
                    message: "format=svg needs Graphviz's dot, which is not installed on this server; "
                        + "ask for the DOT (no format) and render it with dot -Tsvg yourself")
            } catch Graphviz.Failure.failed(let detail) {
                throw APIError(code: .internal, message: "rendering the SVG failed: \(detail)")
            }
        }
        return try answer([ByteBuffer(bytes: image)], to: client, contentType: Self.svgContentType)
    }

    /// Runs the backward call and evaluates every name of the graph, then draws both.
    private static func explainDOT(
        graph: Graph, call: CallRequest, backward: BackwardComputation, limits: Limits, deadline: Deadline
    ) throws -> String {
        let options = call.options
        let result = try graph.backward(
            values: call.values, outputs: backward.outputs, seeds: backward.seeds, wrt: backward.wrt,
            options: BackwardOptions(batched: options.batched), limits: limits, deadline: deadline)
        if options.unconnected == .error, let input = result.unconnected.first {
            throw AutodiffError.unconnectedInput(input)
        }
        let spec = graph.spec
        let names = spec.inputs + spec.constants.keys.sorted() + spec.nodes.map(\.id)
        let values = try graph.forward(values: call.values, outputs: names, limits: limits, deadline: deadline)
        return ExplainDOT(
            spec: spec, values: values, outputs: backward.outputs, seeds: backward.seeds, result: result,
            wrt: backward.wrt ?? graph.inputs
        ).render()
    }
}
