import Hummingbird

/// Every endpoint's method and path, so unmatched requests can be told apart:
/// a known path with another method is `405 method_not_allowed`, anything else `404 not_found`.
struct Routes: Sendable {
    struct Route: Sendable {
        let method: HTTPRequest.Method
        let path: String
        /// Path segments; `:name` matches any one segment.
        let segments: [Substring]
    }

    private(set) var routes: [Route] = []

    mutating func add(_ method: HTTPRequest.Method, _ path: String) {
        routes.append(Route(method: method, path: path, segments: Self.segments(path)))
    }

    /// The methods served at `path`, empty when no route has that path.
    func methods(at path: String) -> [HTTPRequest.Method] {
        let requested = Self.segments(path)
        return routes.filter { route in
            route.segments.count == requested.count
                && zip(route.segments, requested).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }.map(\.method)
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}
