/// Everything an `AutodiffClient` call can throw.
public enum AutodiffClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server answered with the contract's error body: its HTTP status, stable `code`
    /// (`seed_required`, `shape_mismatch`, `overloaded`, …), message, and the node at fault if any.
    case server(status: Int, code: String, message: String, node: String?)
    /// No answer: connection refused, timed out (`Configuration.timeout`), or cut off.
    case transport(String)
    /// An answer that is not what the contract promises (for example a non-JSON body).
    case invalidResponse(status: Int, detail: String)

    /// The contract's error code; `"transport"` or `"invalid_response"` for failures without one.
    public var code: String {
        switch self {
        case .server(_, let code, _, _): code
        case .transport: "transport"
        case .invalidResponse: "invalid_response"
        }
    }

    /// The HTTP status, 0 when no answer came.
    public var status: Int {
        switch self {
        case .server(let status, _, _, _), .invalidResponse(let status, _): status
        case .transport: 0
        }
    }

    /// The node, input or output the server named as at fault.
    public var node: String? {
        if case .server(_, _, _, let node) = self { return node }
        return nil
    }

    public var message: String {
        switch self {
        case .server(_, _, let message, _): message
        case .transport(let detail), .invalidResponse(_, let detail): detail
        }
    }

    public var description: String {
        let at = node.map { " (node \"\($0)\")" } ?? ""
        return "\(status == 0 ? "" : "\(status) ")\(code)\(at): \(message)"
    }
}
