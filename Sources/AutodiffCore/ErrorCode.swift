/// Every machine-readable error code of the wire contract, core and transport alike.
///
/// The core's `AutodiffError.code` and the service's error answers both use this one type, so a new
/// code cannot be added in one place and forgotten in another: the service maps each code to its
/// HTTP status in one exhaustive switch, creates one error counter per case, and a test checks that
/// docs/API.md lists every case.
public enum ErrorCode: String, CaseIterable, Sendable {
    case invalidJSON = "invalid_json"
    case invalidRequest = "invalid_request"
    case unauthorized
    case graphNotFound = "graph_not_found"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case payloadTooLarge = "payload_too_large"
    case limitExceeded = "limit_exceeded"
    case unknownOp = "unknown_op"
    case unknownName = "unknown_name"
    case duplicateName = "duplicate_name"
    case cycle
    case arity
    case invalidAttribute = "invalid_attribute"
    case shapeMismatch = "shape_mismatch"
    case seedRequired = "seed_required"
    case seedShapeMismatch = "seed_shape_mismatch"
    case unconnectedInput = "unconnected_input"
    case overloaded
    case shuttingDown = "shutting_down"
    case deadlineExceeded = "deadline_exceeded"
    /// `POST /v1/explain?format=svg` where Graphviz's `dot` is not installed (an addition to the contract).
    case rendererUnavailable = "renderer_unavailable"
    case `internal`
}
