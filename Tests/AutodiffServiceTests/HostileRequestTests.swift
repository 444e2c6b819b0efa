import Testing

@testable import AutodiffService

/// Request bodies that once killed the process (every call in flight lost) or pinned a worker for
/// hours, sent as a client sends them: each now gets its contract answer at once.
@Suite struct HostileRequestTests {
    /// Two broadcasts give a zero-element tensor the shape [0, 2⁶²]; joining them overflowed Int.
    @Test func concatOfHugeEmptyTensors() async throws {
        try await withApp { client in
            let graph = #"""
                {"inputs":["x"],"nodes":[
                  {"id":"a","op":"broadcast_to","args":["x"],"attrs":{"shape":[0,4611686018427387904]}},
                  {"id":"b","op":"broadcast_to","args":["x"],"attrs":{"shape":[0,4611686018427387904]}},
                  {"id":"y","op":"concat","args":["a","b"],"attrs":{"axis":1}}]}
                """#
            let reply = try await client.post(
                "/v1/backward", Graphs.call(graph, #""values":{"x":[[1]]},"outputs":["y"],"seeds":"ones""#))
            #expect(reply.status.code == 413, "\(reply.text)")
            #expect(reply.errorCode == "limit_exceeded")
            #expect(reply.json["error"]["node"].string == "a")
        }
    }

    /// A slice of an empty [0, 14197294936951, 649657] input at offsets near 2⁶³.
    @Test func sliceOfAHugeEmptyInput() async throws {
        try await withApp { client in
            let graph = #"""
                {"inputs":["x"],"nodes":[{"id":"y","op":"slice","args":["x"],
                  "attrs":{"starts":[1e18,1e18,1e18],"ends":[1e18,1e18,1e18]}}]}
                """#
            let values = #""values":{"x":{"shape":[0,14197294936951,649657],"data":[]}},"outputs":["y"]"#
            let reply = try await client.post("/v1/forward", Graphs.call(graph, values))
            #expect(reply.status.code == 413, "\(reply.text)")
            #expect(reply.errorCode == "limit_exceeded")
            #expect(reply.json["error"]["node"].string == "x")
        }
    }

    /// Shape attributes out of range are refused, never clamped into another tensor.
    @Test(arguments: ["9223372036854775807", "1e19", "-1e19"])
    func outOfRangeShapeAttribute(value: String) async throws {
        try await withApp { client in
            let graph =
                #"{"inputs":["x"],"nodes":[{"id":"y","op":"broadcast_to","args":["x"],"attrs":{"shape":[0,\#(value)]}}]}"#
            let reply = try await client.post("/v1/forward", Graphs.call(graph, #""values":{"x":1},"outputs":["y"]"#))
            #expect(reply.status.code == 422, "\(reply.text)")
            #expect(reply.errorCode == "invalid_attribute")
        }
    }

    /// Batched seeds of shape [2⁴⁰, 0]: no element, but 2⁴⁰ rows of gradients.
    @Test func hugeEmptyBatch() async throws {
        try await withApp { client in
            let graph =
                #"{"inputs":["x"],"nodes":[{"id":"y","op":"slice","args":["x"],"attrs":{"starts":[0],"ends":[0]}}]}"#
            let members = #"""
                "values":{"x":[1,2]},"outputs":["y"],"seeds":{"y":{"shape":[1099511627776,0],"data":[]}},
                "options":{"batched":true}
                """#
            let reply = try await client.post("/v1/backward", Graphs.call(graph, members))
            #expect(reply.status.code == 413, "\(reply.text)")
            #expect(reply.errorCode == "limit_exceeded")
        }
    }

    /// A Jacobian with respect to an input no output depends on: a column of zeros, with no row of
    /// the million-element output evaluated (it once built a million-element seed per row).
    @Test func jacobianOfAnUnconnectedInput() async throws {
        try await withApp { client in
            let graph = #"""
                {"inputs":["x","u"],"nodes":[{"id":"y","op":"broadcast_to","args":["x"],"attrs":{"shape":[1000000]}}]}
                """#
            let members = #""values":{"x":1,"u":2},"outputs":["y"],"wrt":["u"],"options":{"encoding":"base64"}"#
            let reply = try await client.post("/v1/jacobian", Graphs.call(graph, members))
            #expect(reply.status.code == 200, "\(reply.text.prefix(300))")
            #expect(reply.json["jacobian"]["y"]["u"]["shape"][0].int == 1_000_000)
        }
    }

    /// A response that would be far larger as text than the tensors behind it is refused up front.
    @Test func responseBytesAreBudgeted() async throws {
        var configuration = testConfiguration()
        configuration.limits.maxBytes = 4_000_000
        try await withApp(configuration) { client in
            let graph = #"""
                {"inputs":["x"],"nodes":[{"id":"y","op":"broadcast_to","args":["x"],"attrs":{"shape":[200000]}}]}
                """#
            let nested = try await client.post(
                "/v1/forward", Graphs.call(graph, #""values":{"x":1},"outputs":["y"]"#))
            #expect(nested.status.code == 413, "\(nested.text.prefix(300))")
            #expect(nested.errorCode == "limit_exceeded")
        }
    }
}
