import AutodiffCore
import Testing

@testable import AutodiffService

/// Every compute endpoint through the router, on hand-derived values.
@Suite struct EndpointTests {
    // MARK: /v1/backward

    @Test func onesSeedIsTheGradientOfTheSum() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/backward",
                Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":"ones"}"#))
            #expect(reply.status == .ok)
            #expect(reply.json["outputs"]["y"].doubles == [1, 4, 9])
            #expect(reply.json["gradients"]["x"].doubles == [2, 4, 6])
            #expect(reply.json["unconnected"].count == 0)
            #expect(reply.headers[.contentType] == "application/json")
        }
    }

    @Test func seedsOnesSeedsEveryOutput() async throws {
        // y = x·x and z = 3x: "seeds": "ones" gives the gradient of Σy + Σz, 2x + 3.
        let graph = #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x","x"]},"#
            + #"{"id":"z","op":"mul","args":["x",3]}]}"#
        try await withApp { client in
            let reply = try await client.post(
                "/v1/backward", Graphs.call(graph, #""values":{"x":[1,2,3]},"outputs":["y","z"],"seeds":"ones""#))
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.json["gradients"]["x"].doubles == [5, 7, 9])
            let batched = try await client.post(
                "/v1/backward",
                Graphs.call(graph, #""values":{"x":[1]},"outputs":["y"],"seeds":"ones","options":{"batched":true}"#))
            #expect(batched.errorCode == "invalid_request", "\(batched.text)")
        }
    }

    @Test func explicitSeedWeightsTheRows() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/backward",
                Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":[1,0,2]}"#))
            #expect(reply.json["gradients"]["x"].doubles == [2, 0, 12])
        }
    }

    @Test func scalarOutputNeedsNoSeed() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/backward", Graphs.call(Graphs.cubeSum, #""values":{"x":[1,2,3]},"outputs":["s"]"#))
            #expect(reply.status == .ok)
            #expect(reply.json["outputs"]["s"].double == 36)
            #expect(reply.json["gradients"]["x"].doubles == [3, 12, 27])
        }
    }

    @Test func unconnectedInputsFollowTheOption() async throws {
        try await withApp { client in
            let base = #""values":{"x":[1,2],"u":[5]},"outputs":["y"],"seeds":{"y":"ones"}"#
            let zero = try await client.post("/v1/backward", Graphs.call(Graphs.doubleWithSpare, base))
            #expect(zero.json["gradients"]["x"].doubles == [2, 2])
            #expect(zero.json["gradients"]["u"].doubles == [0])
            #expect(zero.json["unconnected"][0].string == "u")

            let null = try await client.post(
                "/v1/backward", Graphs.call(Graphs.doubleWithSpare, base + #","options":{"unconnected":"null"}"#))
            #expect(null.json["gradients"]["u"].isNull)
            #expect(null.json["gradients"]["x"].doubles == [2, 2])

            let error = try await client.post(
                "/v1/backward", Graphs.call(Graphs.doubleWithSpare, base + #","options":{"unconnected":"error"}"#))
            #expect(error.status == .unprocessableContent)
            #expect(error.errorCode == "unconnected_input")
            #expect(error.json["error"]["node"].string == "u")
        }
    }

    @Test func wrtSelectsAndOrdersTheGradients() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/backward",
                Graphs.call(
                    Graphs.doubleWithSpare,
                    #""values":{"x":[1,2],"u":[5]},"outputs":["y"],"seeds":{"y":"ones"},"wrt":["x"]"#
                ))
            #expect(reply.json["gradients"].keys == ["x"])
            #expect(reply.json["unconnected"].count == 0)
        }
    }

    @Test func batchedRowsEqualUnbatchedCalls() async throws {
        try await withApp { client in
            let rows = [[1.0, 0, 0], [0, 1, 0], [0.5, -1, 2]]
            let batched = try await client.post(
                "/v1/backward",
                Graphs.call(
                    Graphs.square,
                    #""values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":\#(rows)},"options":{"batched":true}"#))
            #expect(batched.status == .ok)
            #expect(batched.json["gradients"]["x"].shape == [3, 3])
            for (k, row) in rows.enumerated() {
                let single = try await client.post(
                    "/v1/backward",
                    Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":\#(row)}"#))
                #expect(batched.json["gradients"]["x"][k].doubles == single.json["gradients"]["x"].doubles)
            }
        }
    }

    @Test func returnedBackwardGraphGivesTheSecondDerivative() async throws {
        try await withApp { client in
            // y = x³ elementwise; dy/dx · seed = 3x²·seed; its derivative with seed ones is 6x.
            let cube =
                #"{"inputs":["x"],"nodes":[{"id":"x2","op":"mul","args":["x","x"]},"#
                + #"{"id":"y","op":"mul","args":["x2","x"]}]}"#
            let first = try await client.post(
                "/v1/backward",
                Graphs.call(
                    cube,
                    #""values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":"ones"},"options":{"return_graph":true}"#
                ))
            #expect(first.json["gradients"]["x"].doubles == [3, 12, 27])
            let backward = first.json["backward_graph"]
            #expect(backward["graph"]["inputs"].description.contains("seed:y"))
            let gradientNode = try #require(backward["outputs"]["x"].string)
            let second = try await client.post(
                "/v1/backward",
                #"{"graph":\#(backward["graph"]),"values":{"x":[1,2,3],"seed:y":[1,1,1]},"#
                    + #""outputs":["\#(gradientNode)"],"seeds":{"\#(gradientNode)":"ones"},"wrt":["x"]}"#)
            #expect(second.status == .ok)
            #expect(second.json["outputs"][gradientNode].doubles == [3, 12, 27])
            #expect(second.json["gradients"]["x"].doubles == [6, 12, 18])
        }
    }

    // MARK: /v1/forward, /v1/jacobian, /v1/jvp, /v1/hvp

    @Test func forwardEvaluatesOutputs() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/forward", Graphs.call(Graphs.cubeSum, #""values":{"x":[1,2,3]},"outputs":["y","s"]"#))
            #expect(reply.status == .ok)
            #expect(reply.json["outputs"]["y"].doubles == [1, 8, 27])
            #expect(reply.json["outputs"]["s"].double == 36)
        }
    }

    @Test func jacobianHasOutputShapeThenInputShape() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/jacobian", Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"],"wrt":["x"]"#))
            #expect(reply.status == .ok)
            #expect(reply.json["jacobian"]["y"]["x"].shape == [3, 3])
            #expect(reply.json["jacobian"]["y"]["x"].doubles == [2, 0, 0, 0, 4, 0, 0, 0, 6])
            #expect(reply.json["outputs"]["y"].doubles == [1, 4, 9])
        }
    }

    @Test func jvpIsJacobianTimesTangent() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/jvp",
                Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"],"tangents":{"x":[1,0,-1]}"#))
            #expect(reply.status == .ok)
            #expect(reply.json["tangents"]["y"].doubles == [2, 0, -6])
            let zero = try await client.post(
                "/v1/jvp", Graphs.call(Graphs.square, #""values":{"x":[1,2,3]},"outputs":["y"]"#))
            #expect(zero.json["tangents"]["y"].doubles == [0, 0, 0])
        }
    }

    @Test func hvpOfCubeIsSixX() async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/hvp",
                Graphs.call(Graphs.cubeSum, #""values":{"x":[1,2,3]},"output":"s","vectors":{"x":[1,1,2]}"#))
            #expect(reply.status == .ok)
            #expect(reply.json["output"].double == 36)
            #expect(reply.json["gradients"]["x"].doubles == [3, 12, 27])
            #expect(reply.json["hvp"]["x"].doubles == [6, 12, 36])
        }
    }

    // MARK: Probes and the op catalogue

    @Test func probesAnswer() async throws {
        let readiness = Readiness()
        try await withApp(readiness: readiness) { client in
            let health = try await client.get("/healthz")
            #expect(health.status == .ok)
            #expect(health.json["status"].string == "ok")
            #expect(try await client.get("/readyz").status == .ok)
            readiness.beginDraining()
            let draining = try await client.get("/readyz")
            #expect(draining.status == .serviceUnavailable)
            #expect(draining.errorCode == "shutting_down")
            #expect(try await client.get("/healthz").status == .ok)
        }
    }

    @Test func opsListsEveryOpOfTheTable() async throws {
        try await withApp { client in
            let reply = try await client.get("/v1/ops")
            #expect(reply.status == .ok)
            let ops = (0..<(reply.json["ops"].count ?? 0)).map { reply.json["ops"][$0] }
            #expect(Set(ops.compactMap { $0["name"].string }) == Set(Op.allCases.map(\.rawValue)))
            let sum = try #require(ops.first { $0["name"].string == "sum" })
            #expect(sum["arity"].int == 1)
            #expect(sum["variadic"].bool == false)
            #expect(sum["attrs"][1]["name"].string == "keepdims")
            #expect(sum["attrs"][1]["default"].bool == false)
            #expect(sum["attrs"][0]["note"].string == "all axes")
            let concat = try #require(ops.first { $0["name"].string == "concat" })
            #expect(concat["variadic"].bool == true)
            let gelu = try #require(ops.first { $0["name"].string == "gelu" })
            #expect(gelu["attrs"][0]["choices"].count == 2)
            #expect(ops.allSatisfy { !($0["gradient_note"].string ?? "").isEmpty })
        }
    }
}
