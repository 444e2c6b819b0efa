import AutodiffCore

/// Where a call's graph comes from: sent inline (validated while parsing) or registered earlier.
enum GraphSource: Sendable {
    case inline(Graph)
    case registered(id: String)
}

/// What `options.unconnected` asks for an input no output depends on.
enum UnconnectedPolicy: String, Sendable, CaseIterable {
    /// A zero gradient, listed in `unconnected`.
    case zero
    /// JSON `null` in place of the gradient, listed in `unconnected`.
    case null
    /// Fail with `422 unconnected_input`.
    case error
}

/// `options`, shared by every endpoint; each uses the fields that concern it.
struct CallOptions: Sendable {
    var encoding = TensorEncoding.nested
    var unconnected = UnconnectedPolicy.zero
    var batched = false
    var returnGraph = false

    static let keys: Set = ["encoding", "unconnected", "batched", "return_graph"]

    init() {}

    init(_ value: JSONValue?) throws(AutodiffError) {
        guard let value, value != .null else { return }
        let options = try WireObject(value, what: "options")
        if let unknown = options.fields.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw .invalidRequest(
                "options.\(unknown) is not an option; the options are " + Self.keys.sorted().joined(separator: ", "))
        }
        encoding = try options.choice("encoding", as: TensorEncoding.self) ?? encoding
        unconnected = try options.choice("unconnected", as: UnconnectedPolicy.self) ?? unconnected
        batched = try options.bool("batched") ?? batched
        returnGraph = try options.bool("return_graph") ?? returnGraph
    }
}

/// The parts of a request body every compute endpoint shares: the graph, input values and options.
struct CallRequest: Sendable {
    let graph: GraphSource
    let values: [String: Tensor]
    let options: CallOptions

    /// Parses the shared fields of `body` and hands the whole object to the endpoint's own decoder.
    /// `known` is the graph of a `"graph"` member the parser left out because its text was validated
    /// before (`GraphCache.inlineGraph`); it stands for that member.
    static func decode(
        _ body: JSONValue, reusing known: Graph? = nil, limits: Limits
    ) throws(AutodiffError) -> (CallRequest, WireObject) {
        let request = try WireObject(body, what: "request")
        let graph: GraphSource
        switch (request["graph"], known, try request.string("graph_id")) {
        case (_, let known?, nil):
            graph = .inline(known)
        case (let spec?, nil, nil):
            graph = .inline(try Graph(WireGraph.decode(spec, limits: limits), limits: limits))
        case (nil, nil, let id?):
            graph = .registered(id: id)
        case (nil, nil, nil):
            throw .invalidRequest("request needs \"graph\" (a graph object) or \"graph_id\" (from POST /v1/graphs)")
        case (_, _, _?):
            throw .invalidRequest("request has both \"graph\" and \"graph_id\"; send one")
        }
        let values = try tensors(request, "values", what: { "value of input \"\($0)\"" }, limits: limits)
        let call = CallRequest(graph: graph, values: values, options: try CallOptions(request["options"]))
        return (call, request)
    }

    /// A `{name: tensor}` field; absent means empty.
    static func tensors(
        _ request: WireObject, _ key: String, what: (String) -> String, limits: Limits
    ) throws(AutodiffError) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (name, value) in try request.object(key) ?? [:] {
            tensors[name] = try WireTensor.decode(value, what: what(name), node: name, limits: limits)
        }
        return tensors
    }

    /// The `outputs` field, which every endpoint but `hvp` requires.
    static func outputs(_ request: WireObject) throws(AutodiffError) -> [String] {
        guard let outputs = try request.strings("outputs") else {
            throw .invalidRequest("request needs \"outputs\": the names of the nodes to evaluate")
        }
        return unique(outputs)
    }

    /// `names` without repeats, in first-seen order.
    static func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}
