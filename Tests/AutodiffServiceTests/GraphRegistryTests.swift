import AutodiffCore
import HummingbirdTesting
import Testing

@testable import AutodiffService

/// `POST /v1/graphs`, `GET /v1/graphs/{id}` and `graph_id` on every endpoint.
@Suite struct GraphRegistryTests {
    func register(_ graph: String, on client: any TestClientProtocol) async throws -> Reply {
        try await client.post("/v1/graphs", #"{"graph":\#(graph)}"#)
    }

    @Test func registrationReturnsAContentAddress() async throws {
        try await withApp { client in
            let reply = try await register(Graphs.cubeSum, on: client)
            #expect(reply.status == .created)
            let id = try #require(reply.json["graph_id"].string)
            #expect(id.hasPrefix("sha256-"))
            #expect(id.count == "sha256-".count + 64)
            #expect(id.dropFirst("sha256-".count).allSatisfy { "0123456789abcdef".contains($0) })
            #expect(reply.json["inputs"][0].string == "x")
            #expect(reply.json["nodes"].int == 3)
            #expect(reply.headers[.location] == "/v1/graphs/\(id)")
            let again = try await register(Graphs.cubeSum, on: client)
            #expect(again.json["graph_id"].string == id)
        }
    }

    @Test func idIgnoresKeyOrderAndWhitespace() async throws {
        let compact = #"{"inputs":["x"],"constants":{"k":2},"nodes":[{"id":"y","op":"mul","args":["x","k"]}]}"#
        let shuffled = #"""
            {
              "nodes": [ { "args": [ "x", "k" ], "op": "mul", "id": "y" } ],
              "constants": { "k": {"shape": [], "data": [2.0]} },
              "inputs": [ "x" ]
            }
            """#
        let different = #"{"inputs":["x"],"constants":{"k":3},"nodes":[{"id":"y","op":"mul","args":["x","k"]}]}"#
        try await withApp { client in
            let a = try await register(compact, on: client).json["graph_id"].string
            let b = try await register(shuffled, on: client).json["graph_id"].string
            let c = try await register(different, on: client).json["graph_id"].string
            #expect(a != nil)
            #expect(a == b)
            #expect(a != c)
        }
    }

    @Test func registeredGraphCanBeReadBackAndRegisteredAgain() async throws {
        try await withApp { client in
            let id = try #require(try await register(Graphs.mlp, on: client).json["graph_id"].string)
            let stored = try await client.get("/v1/graphs/\(id)")
            #expect(stored.status == .ok)
            #expect(stored.json["inputs"].count == 3)
            #expect(stored.json["nodes"].count == 5)
            #expect(stored.json["constants"]["half"]["data"][0].double == 0.5)
            let again = try await register(stored.text, on: client)
            #expect(again.json["graph_id"].string == id)
        }
    }

    @Test func everyEndpointAcceptsAGraphID() async throws {
        try await withApp { client in
            let id = try #require(try await register(Graphs.cubeSum, on: client).json["graph_id"].string)
            let common = #""graph_id":"\#(id)","values":{"x":[1,2,3]}"#
            let forward = try await client.post("/v1/forward", #"{\#(common),"outputs":["s"]}"#)
            #expect(forward.json["outputs"]["s"].double == 36)
            let backward = try await client.post("/v1/backward", #"{\#(common),"outputs":["s"]}"#)
            #expect(backward.json["gradients"]["x"].doubles == [3, 12, 27])
            let jacobian = try await client.post("/v1/jacobian", #"{\#(common),"outputs":["s"]}"#)
            #expect(jacobian.json["jacobian"]["s"]["x"].doubles == [3, 12, 27])
            let jvp = try await client.post("/v1/jvp", #"{\#(common),"outputs":["s"],"tangents":{"x":[1,1,1]}}"#)
            #expect(jvp.json["tangents"]["s"].double == 42)
            let hvp = try await client.post("/v1/hvp", #"{\#(common),"output":"s","vectors":{"x":[1,0,0]}}"#)
            #expect(hvp.json["hvp"]["x"].doubles == [6, 0, 0])
        }
    }

    @Test func evictedAndUnknownIDsAreGraphNotFound() async throws {
        var configuration = testConfiguration()
        configuration.graphCacheSize = 1
        try await withApp(configuration) { client in
            let first = try #require(try await register(Graphs.square, on: client).json["graph_id"].string)
            _ = try await register(Graphs.cubeSum, on: client)
            let evicted = try await client.post(
                "/v1/forward", #"{"graph_id":"\#(first)","values":{"x":[1]},"outputs":["y"]}"#)
            #expect(evicted.status == .notFound)
            #expect(evicted.errorCode == "graph_not_found")
            let missing = try await client.get("/v1/graphs/\(first)")
            #expect(missing.status == .notFound)
            #expect(missing.errorCode == "graph_not_found")
        }
    }

    @Test func invalidGraphsAreNotRegistered() async throws {
        try await withApp { client in
            let cyclic =
                #"{"inputs":[],"nodes":[{"id":"a","op":"neg","args":["b"]},{"id":"b","op":"neg","args":["a"]}]}"#
            let reply = try await register(cyclic, on: client)
            #expect(reply.status == .unprocessableContent)
            #expect(reply.errorCode == "cycle")
            let empty = try await client.post("/v1/graphs", "{}")
            #expect(empty.errorCode == "invalid_request")
        }
    }

    @Test func graphsTooLargeToKeepAreRefusedAndBytesBoundTheCache() async throws {
        var configuration = testConfiguration()
        configuration.graphCacheBytes = 5_000
        try await withApp(configuration) { client in
            let data = [Double](repeating: 0.5, count: 300)
            let big = #"{"inputs":["x"],"constants":{"c":\#(data)},"nodes":[{"id":"y","op":"mul","args":["x","c"]}]}"#
            let refused = try await register(big, on: client)
            #expect(refused.status == .contentTooLarge)
            #expect(refused.errorCode == "limit_exceeded")
            // A graph costs six times its canonical text, about 500 bytes here: two of these do not
            // fit together, so the older one is evicted.
            let medium = Array(data.prefix(100))
            let first =
                #"{"inputs":["x"],"constants":{"c":\#(medium)},"nodes":[{"id":"y","op":"mul","args":["x","c"]}]}"#
            let second =
                #"{"inputs":["x"],"constants":{"c":\#(medium)},"nodes":[{"id":"y","op":"add","args":["x","c"]}]}"#
            let firstID = try #require(try await register(first, on: client).json["graph_id"].string)
            #expect(try await client.get("/v1/graphs/\(firstID)").status == .ok)
            #expect(try await register(second, on: client).status == .created)
            #expect(try await client.get("/v1/graphs/\(firstID)").errorCode == "graph_not_found")
        }
    }

    @Test func leastRecentlyUsedIsEvictedFirst() throws {
        let cache = GraphCache(capacity: 2, maxBytes: 1 << 20)
        let graph = try AutodiffCore.Graph(AutodiffCore.GraphSpec(inputs: ["x"], nodes: []))
        for id in ["a", "b"] {
            try cache.insert(RegisteredGraph(id: id, graph: graph, canonicalJSON: [], nodeCount: 0, byteCount: 1))
        }
        _ = cache.graph("a")
        try cache.insert(RegisteredGraph(id: "c", graph: graph, canonicalJSON: [], nodeCount: 0, byteCount: 1))
        #expect(cache.graph("a") != nil)
        #expect(cache.graph("b") == nil)
        #expect(cache.graph("c") != nil)
    }
}
