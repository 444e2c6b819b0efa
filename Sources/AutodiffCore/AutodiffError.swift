/// Everything a client can get wrong, as typed values.
///
/// Each case knows its stable contract `code`, the name at fault (`node`) and a message that says
/// what was expected and what came. The transport maps `code` to an HTTP status in one place.
public enum AutodiffError: Error, Equatable, Sendable {
    /// Wrong types or values in the request that are not about a particular op.
    case invalidRequest(String, node: String? = nil)
    case unknownOp(node: String, op: String)
    case unknownName(node: String, name: String)
    case duplicateName(String)
    case cycle(node: String)
    case arity(node: String, op: String, expected: String, got: Int)
    case invalidAttribute(node: String, op: String, attribute: String, reason: String)
    case shapeMismatch(node: String, op: String, detail: String)
    case seedRequired(output: String, shape: [Int])
    case seedShapeMismatch(output: String, expected: [Int], got: [Int])
    /// A JVP tangent or HVP vector whose shape is not its input's; code `seed_shape_mismatch`.
    case directionShapeMismatch(input: String, kind: String, expected: [Int], got: [Int])
    /// An output that must have one element (the `hvp` output) has more; code `seed_required`.
    case scalarRequired(output: String, shape: [Int])
    case unconnectedInput(String)
    /// A configured limit (nodes, elements, bytes, Jacobian size) would be exceeded.
    case limitExceeded(String, node: String? = nil)
    /// The run passed its deadline; it was stopped between two nodes.
    case deadlineExceeded(String)
    /// A broken invariant of the service itself, never the client's input.
    case internalError(String)

    /// The contract's machine-readable error code.
    public var code: ErrorCode {
        switch self {
        case .invalidRequest: .invalidRequest
        case .unknownOp: .unknownOp
        case .unknownName: .unknownName
        case .duplicateName: .duplicateName
        case .cycle: .cycle
        case .arity: .arity
        case .invalidAttribute: .invalidAttribute
        case .shapeMismatch: .shapeMismatch
        case .seedRequired, .scalarRequired: .seedRequired
        case .seedShapeMismatch, .directionShapeMismatch: .seedShapeMismatch
        case .unconnectedInput: .unconnectedInput
        case .limitExceeded: .limitExceeded
        case .deadlineExceeded: .deadlineExceeded
        case .internalError: .internal
        }
    }

    /// The node, input or output at fault, if there is one.
    public var node: String? {
        switch self {
        case .invalidRequest(_, let node), .limitExceeded(_, let node): node
        case .deadlineExceeded, .internalError: nil
        case .unknownOp(let node, _), .unknownName(let node, _), .cycle(let node),
            .arity(let node, _, _, _), .invalidAttribute(let node, _, _, _), .shapeMismatch(let node, _, _):
            node
        case .duplicateName(let name), .unconnectedInput(let name), .directionShapeMismatch(let name, _, _, _): name
        case .seedRequired(let output, _), .seedShapeMismatch(let output, _, _), .scalarRequired(let output, _):
            output
        }
    }

    /// A sentence a user can act on.
    public var message: String {
        switch self {
        case .invalidRequest(let message, _):
            return message
        case .unknownOp(let node, let op):
            return "node \"\(node)\": unknown op \"\(op)\"; GET /v1/ops lists the supported ops"
        case .unknownName(let node, let name) where node == name:
            return "\"\(name)\" is not an input, constant or node of the graph"
        case .unknownName(let node, let name):
            return "node \"\(node)\": argument \"\(name)\" is not an input, constant or node of the graph"
        case .duplicateName(let name):
            return "name \"\(name)\" is defined more than once; inputs, constants and node ids share one namespace"
        case .cycle(let node):
            return "node \"\(node)\" depends on itself through its arguments; the graph must be acyclic"
        case .arity(let node, let op, let expected, let got):
            return "node \"\(node)\": \(op) takes \(expected) argument\(expected == "1" ? "" : "s"), got \(got)"
        case .invalidAttribute(let node, let op, let attribute, let reason):
            return "node \"\(node)\": \(op) attribute \"\(attribute)\" \(reason)"
        case .shapeMismatch(let node, let op, let detail):
            return "node \"\(node)\": \(op) \(detail)"
        case .seedRequired(let output, let shape):
            return "output \"\(output)\" is not a scalar (shape \(shape)), so it needs a seed of that shape; "
                + "the seed \"ones\" gives the gradient of its sum"
        case .directionShapeMismatch(let input, let kind, let expected, let got):
            return "\(kind) for input \"\(input)\" must have the input's shape \(expected), got \(got)"
        case .scalarRequired(let output, let shape):
            return
                "output \"\(output)\" must have exactly one element, got shape \(shape); reduce it first (e.g. with sum)"
        case .seedShapeMismatch(let output, let expected, let got):
            return "seed for output \"\(output)\" must have the output's shape \(expected), got \(got)"
        case .unconnectedInput(let name):
            return "input \"\(name)\" does not affect any requested output "
                + "(options.unconnected is \"error\"; use \"zero\" or \"null\" to accept this)"
        case .limitExceeded(let message, _), .deadlineExceeded(let message), .internalError(let message):
            return message
        }
    }
}

extension AutodiffError: CustomStringConvertible {
    public var description: String { "\(code.rawValue): \(message)" }
}
