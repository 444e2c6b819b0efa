import AutodiffCore

/// One compute endpoint: reads its own request fields, runs the core on a worker, builds the body.
protocol Computation: Sendable {
    /// Reads the endpoint's fields from `request` (the shared ones are already in `call`).
    init(request: WireObject, call: CallRequest, limits: Limits) throws(AutodiffError)

    /// Runs on a worker thread; `plans` keeps prepared programs across calls.
    func run(on graph: Graph, call: CallRequest, limits: Limits, deadline: Deadline, plans: PlanCache) throws
        -> JSONOutput
}

/// When a call must be finished; the core stops between two nodes once it has passed.
typealias Deadline = ContinuousClock.Instant

// MARK: POST /v1/forward

/// `{graph|graph_id, values, outputs}` → `{"outputs": {…}}`
struct ForwardComputation: Computation {
    let outputs: [String]

    init(request: WireObject, call: CallRequest, limits: Limits) throws(AutodiffError) {
        outputs = try CallRequest.outputs(request)
    }

    func run(
        on graph: Graph, call: CallRequest, limits: Limits, deadline: Deadline, plans: PlanCache
    ) throws -> JSONOutput {
        let values = try graph.forward(
            values: call.values, outputs: outputs, limits: limits, deadline: deadline, cache: plans)
        return .object([("outputs", try tensorMap(outputs, values, call.options.encoding))])
    }
}

// MARK: POST /v1/backward

/// `Σᵢ seedᵢᵀ · ∂outputᵢ/∂input` for each `wrt` input, with `options.batched`, `options.return_graph`
/// and `options.unconnected`.
struct BackwardComputation: Computation {
    let outputs: [String]
    let seeds: [String: Seed]
    let wrt: [String]?

    init(request: WireObject, call: CallRequest, limits: Limits) throws(AutodiffError) {
        outputs = try CallRequest.outputs(request)
        seeds = try Self.seeds(request, outputs: outputs, limits: limits)
        wrt = try request.strings("wrt").map(CallRequest.unique)
    }

    /// `seeds`: an object with one seed per output (a tensor, or `"ones"`), or the string `"ones"`
    /// for every output, which gives the gradient of the sum of all outputs.
    private static func seeds(
        _ request: WireObject, outputs: [String], limits: Limits
    ) throws(AutodiffError) -> [String: Seed] {
        if request["seeds"] == .string("ones") {
            return Dictionary(outputs.map { ($0, Seed.ones) }) { first, _ in first }
        }
        var seeds: [String: Seed] = [:]
        for (name, value) in try request.object("seeds") ?? [:] {
            if value == .string("ones") {
                seeds[name] = .ones
            } else {
                seeds[name] = .tensor(
                    try WireTensor.decode(value, what: "seed for output \"\(name)\"", node: name, limits: limits))
            }
        }
        return seeds
    }

    func run(
        on graph: Graph, call: CallRequest, limits: Limits, deadline: Deadline, plans: PlanCache
    ) throws -> JSONOutput {
        let options = call.options
        let result = try graph.backward(
            values: call.values, outputs: outputs, seeds: seeds, wrt: wrt,
            options: BackwardOptions(batched: options.batched, returnGraph: options.returnGraph),
            limits: limits, deadline: deadline, cache: plans)
        if options.unconnected == .error, let input = result.unconnected.first {
            throw AutodiffError.unconnectedInput(input)
        }
        let unconnected = Set(result.unconnected)
        var gradients: [(String, JSONOutput)] = []
        for name in wrt ?? graph.inputs {
            if options.unconnected == .null, unconnected.contains(name) {
                gradients.append((name, .null))
            } else {
                gradients.append((name, .tensor(try require(result.gradients[name], name), options.encoding)))
            }
        }
        var body: [(String, JSONOutput)] = [
            ("outputs", try tensorMap(outputs, result.outputs, options.encoding)),
            ("gradients", .object(gradients)),
            ("unconnected", .array(result.unconnected.map(JSONOutput.string))),
        ]
        if let backwardGraph = result.backwardGraph {
            let graph: JSONOutput = .object([
                ("graph", WireGraph.encode(backwardGraph.graph)),
                ("outputs", .sortedObject(backwardGraph.outputs.mapValues(JSONOutput.string))),
            ])
            body.append(("backward_graph", graph))
        }
        return .object(body)
    }
}

// MARK: POST /v1/jacobian

/// `{"outputs": {…}, "jacobian": {"y": {"x": J}}}` with `J.shape == y.shape + x.shape`.
struct JacobianComputation: Computation {
    let outputs: [String]
    let wrt: [String]?

    init(request: WireObject, call: CallRequest, limits: Limits) throws(AutodiffError) {
        outputs = try CallRequest.outputs(request)
        wrt = try request.strings("wrt").map(CallRequest.unique)
    }

    func run(
        on graph: Graph, call: CallRequest, limits: Limits, deadline: Deadline, plans: PlanCache
    ) throws -> JSONOutput {
        let result = try graph.jacobian(
            values: call.values, outputs: outputs, wrt: wrt, limits: limits, deadline: deadline)
        let encoding = call.options.encoding
        var jacobian: [(String, JSONOutput)] = []
        for output in outputs {
            let row = try require(result.jacobian[output], output)
            jacobian.append((output, try tensorMap(wrt ?? graph.inputs, row, encoding)))
        }
        return .object([
            ("outputs", try tensorMap(outputs, result.outputs, encoding)),
            ("jacobian", .object(jacobian)),
        ])
    }
}

// MARK: POST /v1/jvp

/// Forward mode: `{"outputs": {…}, "tangents": {"y": J·t}}`.
struct JVPComputation: Computation {
    let outputs: [String]
    let tangents: [String: Tensor]

    init(request: WireObject, call: CallRequest, limits: Limits) throws(AutodiffError) {
        outputs = try CallRequest.outputs(request)
        tangents = try CallRequest.tensors(request, "tangents", what: { "tangent for input \"\($0)\"" }, limits: limits)
    }

    func run(
        on graph: Graph, call: CallRequest, limits: Limits, deadline: Deadline, plans: PlanCache
    ) throws -> JSONOutput {
        let result = try graph.jvp(
            values: call.values, outputs: outputs, tangents: tangents, limits: limits, deadline: deadline)
        let encoding = call.options.encoding
        return .object([
            ("outputs", try tensorMap(outputs, result.outputs, encoding)),
            ("tangents", try tensorMap(outputs, result.tangents, encoding)),
        ])
    }
}

// MARK: POST /v1/hvp

/// For a one-element `output`: `{"output": …, "gradients": {…}, "hvp": {"x": Σⱼ ∂²out/∂x∂j · vⱼ}}`.
struct HVPComputation: Computation {
    let output: String
    let vectors: [String: Tensor]
    let wrt: [String]?

    init(request: WireObject, call: CallRequest, limits: Limits) throws(AutodiffError) {
        guard let output = try request.string("output") else {
            throw .invalidRequest("request needs \"output\": the name of the one-element node to differentiate twice")
        }
        self.output = output
        vectors = try CallRequest.tensors(request, "vectors", what: { "vector for input \"\($0)\"" }, limits: limits)
        wrt = try request.strings("wrt").map(CallRequest.unique)
    }

    func run(
        on graph: Graph, call: CallRequest, limits: Limits, deadline: Deadline, plans: PlanCache
    ) throws -> JSONOutput {
        let result = try graph.hvp(
            values: call.values, output: output, vectors: vectors, wrt: wrt, limits: limits, deadline: deadline)
        let encoding = call.options.encoding
        let names = wrt ?? graph.inputs
        return .object([
            ("output", .tensor(result.output, encoding)),
            ("gradients", try tensorMap(names, result.gradients, encoding)),
            ("hvp", try tensorMap(names, result.hvp, encoding)),
        ])
    }
}

// MARK: Helpers

/// `{name: tensor}` in the order of `names`.
private func tensorMap(
    _ names: [String], _ tensors: [String: Tensor], _ encoding: TensorEncoding
) throws(APIError) -> JSONOutput {
    var fields: [(String, JSONOutput)] = []
    for name in names {
        fields.append((name, .tensor(try require(tensors[name], name), encoding)))
    }
    return .object(fields)
}

/// A result the core promised; its absence is a bug in the service, not in the request.
private func require(_ tensor: Tensor?, _ name: String) throws(APIError) -> Tensor {
    guard let tensor else { throw APIError.internal("the core returned no result for \"\(name)\"") }
    return tensor
}

private func require(_ row: [String: Tensor]?, _ name: String) throws(APIError) -> [String: Tensor] {
    guard let row else { throw APIError.internal("the core returned no Jacobian row for \"\(name)\"") }
    return row
}
