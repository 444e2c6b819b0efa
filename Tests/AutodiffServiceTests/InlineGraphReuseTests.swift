import AutodiffCore
import Testing

@testable import AutodiffService

/// A graph sent inline with every call is parsed and validated once, and reused only for the exact
/// same text under the same limits.
@Suite struct InlineGraphReuseTests {
    static let scaled = #"{"inputs":["x"],"constants":{"c":0.5},"nodes":[{"id":"y","op":"mul","args":["x","c"]}]}"#

    func decode(_ body: String, graphs: GraphCache, limits: Limits = Limits()) throws -> CallRequest {
        try AutodiffAPI.decodeCall(Array(body.utf8), limits: limits, graphs: graphs).0
    }

    func kept(_ graph: String, in graphs: GraphCache, limits: Limits = Limits()) -> Bool {
        Array(graph.utf8).withUnsafeBufferPointer { graphs.inlineGraph($0, limits: limits) != nil }
    }

    @Test func aGraphSentAgainIsTheOneValidatedBefore() throws {
        let graphs = GraphCache(capacity: 4, maxBytes: 1 << 20)
        let body = Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"]"#)
        #expect(!kept(Graphs.square, in: graphs))
        let first = try decode(body, graphs: graphs)
        #expect(kept(Graphs.square, in: graphs))
        let second = try decode(body, graphs: graphs)
        guard case .inline(let validated) = first.graph, case .inline(let reused) = second.graph else {
            Issue.record("the calls' graphs are not inline")
            return
        }
        #expect(reused.inputs == validated.inputs)
        #expect(reused.spec.nodes.map(\.id) == validated.spec.nodes.map(\.id))
        #expect(second.values == first.values)
    }

    @Test func answersFollowTheTextSentEvenWhenItDiffersByOneByte() async throws {
        let other = Self.scaled.replacing("0.5", with: "0.7")
        try await withApp { client in
            for (graph, factor) in [(Self.scaled, 0.5), (other, 0.7), (Self.scaled, 0.5), (other, 0.7)] {
                let reply = try await client.post(
                    "/v1/backward", Graphs.call(graph, #""values":{"x":[1,2]},"outputs":["y"],"seeds":"ones""#))
                #expect(reply.status == .ok, "\(reply.text)")
                #expect(reply.json["outputs"]["y"].doubles == [factor, 2 * factor])
                #expect(reply.json["gradients"]["x"].doubles == [factor, factor])
            }
        }
    }

    @Test func repeatedCallsAnswerByteForByteAlike() async throws {
        try await withApp { client in
            let body = Graphs.call(Graphs.cubeSum, #""values":{"x":[1,2,3]},"outputs":["s"]"#)
            let replies = try await [client.post("/v1/backward", body), client.post("/v1/backward", body)]
            #expect(replies[0].status == .ok)
            #expect(replies[1].text == replies[0].text)
        }
    }

    @Test func aKeptTextIsValidatedAgainUnderOtherLimits() throws {
        let graphs = GraphCache(capacity: 4, maxBytes: 1 << 20)
        let body = Graphs.call(Graphs.cubeSum, #""values":{"x":[1]},"outputs":["s"]"#)
        _ = try decode(body, graphs: graphs)
        var strict = Limits()
        strict.maxNodes = 2
        #expect(throws: AutodiffError.self) { try decode(body, graphs: graphs, limits: strict) }
    }

    @Test func aKeptGraphWithAGraphIDIsStillRefused() async throws {
        try await withApp { client in
            let call = Graphs.call(Graphs.square, #""values":{"x":[1]},"outputs":["y"],"seeds":"ones""#)
            #expect(try await client.post("/v1/backward", call).status == .ok)
            let both = Graphs.call(Graphs.square, #""graph_id":"sha256-00","values":{"x":[1]},"outputs":["y"]"#)
            let reply = try await client.post("/v1/backward", both)
            #expect(reply.errorCode == "invalid_request")
            #expect(reply.json["error"]["message"].string?.contains("both") == true, "\(reply.text)")
        }
    }

    @Test func keptInlineGraphsStayWithinTheirBoundsAndNeverEvictRegisteredOnes() throws {
        let graphs = GraphCache(capacity: 4, maxBytes: 1 << 20)
        let graph = try Graph(GraphSpec(inputs: ["x"], nodes: []))
        try graphs.insert(RegisteredGraph(id: "r", graph: graph, canonicalJSON: [], nodeCount: 0, byteCount: 1))
        let texts = (0...GraphCache.inlineCapacity).map { #"{"inputs":["x\#($0)"],"nodes":[]}"# }
        for text in texts {
            graphs.keepInline(graph, text: Array(text.utf8)[...], limits: Limits())
        }
        #expect(!kept(texts[0], in: graphs))
        #expect(texts.dropFirst().allSatisfy { kept($0, in: graphs) })
        #expect(graphs.graph("r") != nil)
        let huge = [UInt8](repeating: 32, count: GraphCache.inlineMaxBytes / 6 + 1)
        #expect(GraphCache.keepingCost(textBytes: huge.count) > GraphCache.inlineMaxBytes)
        graphs.keepInline(graph, text: huge[...], limits: Limits())
        #expect(!huge.withUnsafeBufferPointer { graphs.inlineGraph($0, limits: Limits()) != nil })
        #expect(texts.dropFirst().allSatisfy { kept($0, in: graphs) })
    }
}
