import Hummingbird
import HummingbirdTesting
import Testing

@testable import AutodiffService

/// With API keys configured, no spelling of a `/v1` path reaches a `/v1` handler without a key.
@Suite struct AuthenticationTests {
    static let body = Graphs.call(Graphs.square, #""values":{"x":3},"outputs":["y"]"#)

    static func keyed() -> ServiceConfiguration {
        var configuration = testConfiguration()
        configuration.apiKeys = ["s3cret"]
        return configuration
    }

    /// Spellings the router matches to `/v1/forward` (it drops empty segments): a key is needed, and
    /// with the key they work like the plain path.
    @Test(arguments: ["/v1/forward", "//v1/forward", "/v1//forward", "///v1///forward", "//v1/forward/"])
    func spellingsThatReachTheHandlerNeedTheKey(path: String) async throws {
        let (denied, allowed) = try await withApp(Self.keyed()) { client in
            (
                try await client.post(path, Self.body),
                try await client.post(path, Self.body, headers: [.authorization: "Bearer s3cret"])
            )
        }
        #expect(denied.status == .unauthorized, "\(path): \(denied.text)")
        #expect(denied.errorCode == "unauthorized")
        #expect(allowed.status == .ok, "\(path): \(allowed.text)")
        #expect(allowed.json["outputs"]["y"].double == 9)
    }

    /// Spellings the router does not resolve to a route never reach a handler, with or without a key.
    @Test(arguments: [
        "/./v1/forward", "/v1/./forward", "/v1/../v1/forward", "/%761/forward", "/v1/%66orward", "/V1/forward",
        "/v1/forward%2F", "/x/../v1/forward",
    ])
    func spellingsTheRouterDoesNotMatchReachNoHandler(path: String) async throws {
        let (denied, keyed) = try await withApp(Self.keyed()) { client in
            (
                try await client.post(path, Self.body),
                try await client.post(path, Self.body, headers: [.authorization: "Bearer s3cret"])
            )
        }
        // Without a key: 401 where the path is under /v1, else 404. Never a handler's answer.
        #expect([.unauthorized, .notFound].contains(denied.status), "\(path): \(denied.text)")
        #expect(denied.errorCode != nil, "\(path): \(denied.text)")
        #expect(keyed.status == .notFound, "\(path): \(keyed.text)")
    }

    @Test func registeredGraphRoutesNeedTheKeyHoweverSpelled() async throws {
        try await withApp(Self.keyed()) { client in
            for path in ["//v1/graphs", "/v1//graphs"] {
                let reply = try await client.post(path, #"{"graph":\#(Graphs.square)}"#)
                #expect(reply.status == .unauthorized, "\(path): \(reply.text)")
            }
            for path in ["//v1/graphs/sha256-00", "/v1//graphs//sha256-00", "//v1/ops"] {
                let reply = try await client.get(path)
                #expect(reply.status == .unauthorized, "\(path): \(reply.text)")
            }
        }
    }

    @Test func probesStayOpenHoweverSpelled() async throws {
        let (health, ready) = try await withApp(Self.keyed()) { client in
            (try await client.get("//healthz"), try await client.get("/readyz/"))
        }
        #expect(health.status == .ok)
        #expect(ready.status == .ok)
    }
}
