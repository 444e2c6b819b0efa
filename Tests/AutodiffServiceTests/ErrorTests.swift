import AutodiffCore
import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import Testing

@testable import AutodiffService

/// Every error code v1 can produce from a request, with its status and the error body's shape.
@Suite struct ErrorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        var method = HTTPRequest.Method.post
        var path = "/v1/backward"
        let body: String
        let status: HTTPResponse.Status
        let code: String
        var node: String?

        var testDescription: String { name }
    }

    static let x = #""values":{"x":[1,2,3]}"#

    static func graph(_ nodes: String, inputs: String = #"["x"]"#) -> String {
        #"{"inputs":\#(inputs),"nodes":[\#(nodes)]}"#
    }

    static let cases: [Case] = [
        // 400
        Case(name: "truncated JSON", body: #"{"graph":"#, status: .badRequest, code: "invalid_json"),
        Case(name: "not JSON", body: "hello", status: .badRequest, code: "invalid_json"),
        Case(name: "trailing garbage", body: "{} x", status: .badRequest, code: "invalid_json"),
        Case(
            name: "deep nesting", body: String(repeating: "[", count: 100_000), status: .badRequest,
            code: "invalid_json"),
        Case(name: "body is not an object", body: "[1,2]", status: .badRequest, code: "invalid_request"),
        Case(name: "no graph", body: #"{"values":{},"outputs":["y"]}"#, status: .badRequest, code: "invalid_request"),
        Case(
            name: "graph and graph_id", body: #"{"graph":\#(Graphs.square),"graph_id":"sha256-0","outputs":["y"]}"#,
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "outputs missing", body: Graphs.call(Graphs.square, x), status: .badRequest, code: "invalid_request"),
        Case(
            name: "outputs of wrong type", body: Graphs.call(Graphs.square, x + #","outputs":7"#),
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "ragged arrays", body: Graphs.call(Graphs.square, #""values":{"x":[[1,2],[3]]},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "bad base64",
            body: Graphs.call(
                Graphs.square, #""values":{"x":{"shape":[1],"dtype":"float64","base64":"@@@"}},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "base64 of the wrong length",
            body: Graphs.call(
                Graphs.square,
                #""values":{"x":{"shape":[2],"dtype":"float64","base64":"AAAAAAAA8D8="}},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "boolean tensor", body: Graphs.call(Graphs.square, #""values":{"x":true},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "unknown string tensor", body: Graphs.call(Graphs.square, #""values":{"x":"three"},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "data count mismatch",
            body: Graphs.call(Graphs.square, #""values":{"x":{"shape":[2,2],"data":[1,2,3]}},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "negative dimension",
            body: Graphs.call(Graphs.square, #""values":{"x":{"shape":[-1],"data":[]}},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "number out of range", body: Graphs.call(Graphs.square, #""values":{"x":[1e400]},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "missing value", body: Graphs.call(Graphs.square, #""values":{},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "extra value", body: Graphs.call(Graphs.square, #""values":{"x":1,"z":2},"outputs":["y"]"#),
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "seed for a non-output",
            body: Graphs.call(Graphs.square, x + #","outputs":["y"],"seeds":{"y":"ones","x":"ones"}"#),
            status: .badRequest, code: "invalid_request", node: "x"),
        Case(
            name: "wrt names a node",
            body: Graphs.call(Graphs.square, x + #","outputs":["y"],"seeds":{"y":"ones"},"wrt":["y"]"#),
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "unknown option", body: Graphs.call(Graphs.square, x + #","outputs":["y"],"options":{"fast":true}"#),
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "bad encoding",
            body: Graphs.call(Graphs.square, x + #","outputs":["y"],"options":{"encoding":"csv"}"#),
            status: .badRequest, code: "invalid_request"),
        Case(
            name: "node arg of wrong type",
            body: Graphs.call(graph(#"{"id":"y","op":"neg","args":[true]}"#), x + #","outputs":["y"]"#),
            status: .badRequest, code: "invalid_request", node: "y"),
        // 404, 405
        Case(name: "unknown path", path: "/v2/backward", body: "{}", status: .notFound, code: "not_found"),
        Case(
            name: "unknown graph id", body: #"{"graph_id":"sha256-00","values":{},"outputs":["y"]}"#,
            status: .notFound, code: "graph_not_found", node: "sha256-00"),
        Case(
            name: "GET on a POST endpoint", method: .get, path: "/v1/backward", body: "", status: .methodNotAllowed,
            code: "method_not_allowed"),
        Case(
            name: "POST on a GET endpoint", path: "/healthz", body: "{}", status: .methodNotAllowed,
            code: "method_not_allowed"),
        Case(
            name: "DELETE a graph", method: .delete, path: "/v1/graphs/sha256-00", body: "", status: .methodNotAllowed,
            code: "method_not_allowed"),
        // 413
        Case(
            name: "huge shape",
            body: Graphs.call(
                Graphs.square, #""values":{"x":{"shape":[100000,100000,100000],"data":[]}},"outputs":["y"]"#),
            status: .contentTooLarge, code: "limit_exceeded", node: "x"),
        // 422
        Case(
            name: "unknown op",
            body: Graphs.call(graph(#"{"id":"y","op":"frobnicate","args":["x"]}"#), x + #","outputs":["y"]"#),
            status: .unprocessableContent, code: "unknown_op", node: "y"),
        Case(
            name: "unknown name",
            body: Graphs.call(graph(#"{"id":"y","op":"neg","args":["q"]}"#), x + #","outputs":["y"]"#),
            status: .unprocessableContent, code: "unknown_name", node: "y"),
        Case(
            name: "duplicate name",
            body: Graphs.call(graph(#"{"id":"x","op":"neg","args":["x"]}"#), x + #","outputs":["x"]"#),
            status: .unprocessableContent, code: "duplicate_name", node: "x"),
        Case(
            name: "cycle",
            body: Graphs.call(
                graph(#"{"id":"a","op":"neg","args":["b"]},{"id":"b","op":"neg","args":["a"]}"#),
                x + #","outputs":["a"]"#),
            status: .unprocessableContent, code: "cycle"),
        Case(
            name: "arity", body: Graphs.call(graph(#"{"id":"y","op":"add","args":["x"]}"#), x + #","outputs":["y"]"#),
            status: .unprocessableContent, code: "arity", node: "y"),
        Case(
            name: "invalid attribute",
            body: Graphs.call(
                graph(#"{"id":"y","op":"gelu","args":["x"],"attrs":{"approximate":"cubic"}}"#), x + #","outputs":["y"]"#
            ),
            status: .unprocessableContent, code: "invalid_attribute", node: "y"),
        Case(
            name: "shape mismatch",
            body: Graphs.call(
                graph(#"{"id":"y","op":"add","args":["x","w"]}"#, inputs: #"["x","w"]"#),
                #""values":{"x":[1,2,3],"w":[1,2]},"outputs":["y"]"#),
            status: .unprocessableContent, code: "shape_mismatch", node: "y"),
        Case(
            name: "seed required", body: Graphs.call(Graphs.square, x + #","outputs":["y"]"#),
            status: .unprocessableContent, code: "seed_required", node: "y"),
        Case(
            name: "seed shape mismatch", body: Graphs.call(Graphs.square, x + #","outputs":["y"],"seeds":{"y":[1,2]}"#),
            status: .unprocessableContent, code: "seed_shape_mismatch", node: "y"),
        Case(
            name: "batched seed without the batch dimension",
            body: Graphs.call(Graphs.square, x + #","outputs":["y"],"seeds":{"y":[1,2,3]},"options":{"batched":true}"#),
            status: .unprocessableContent, code: "seed_shape_mismatch", node: "y"),
        Case(
            name: "tangent of the wrong shape", path: "/v1/jvp",
            body: Graphs.call(Graphs.square, x + #","outputs":["y"],"tangents":{"x":[1,2]}"#),
            status: .unprocessableContent, code: "seed_shape_mismatch", node: "x"),
        Case(
            name: "non-scalar hvp output", path: "/v1/hvp",
            body: Graphs.call(Graphs.square, x + #","output":"y","vectors":{"x":[1,1,1]}"#),
            status: .unprocessableContent, code: "seed_required", node: "y"),
    ]

    @Test(arguments: cases)
    func errorHasContractStatusAndCode(_ errorCase: Case) async throws {
        let reply = try await withApp { client in
            try await client.send(errorCase.method, errorCase.path, errorCase.body.isEmpty ? nil : errorCase.body)
        }
        #expect(reply.status == errorCase.status, "\(reply.text)")
        #expect(reply.errorCode == errorCase.code, "\(reply.text)")
        #expect(!(reply.json["error"]["message"].string ?? "").isEmpty)
        if let node = errorCase.node {
            #expect(reply.json["error"]["node"].string == node, "\(reply.text)")
        }
        #expect(reply.headers[.contentType] == "application/json")
    }

    @Test func methodNotAllowedListsTheAllowedMethods() async throws {
        let reply = try await withApp { client in try await client.send(.put, "/v1/forward", "{}") }
        #expect(reply.headers[.allow] == "POST")
        let get = try await withApp { client in try await client.send(.post, "/v1/ops", "{}") }
        #expect(get.headers[.allow] == "GET, HEAD")
    }

    @Test func probesAnswerHEAD() async throws {
        let reply = try await withApp { client in try await client.send(.head, "/healthz") }
        #expect(reply.status == .ok)
        #expect(reply.text.isEmpty)
    }

    @Test func seedRequiredMessageTellsHowToFixIt() async throws {
        let reply = try await withApp { client in
            try await client.post("/v1/backward", Graphs.call(Graphs.square, Self.x + #","outputs":["y"]"#))
        }
        let message = try #require(reply.json["error"]["message"].string)
        #expect(message.contains("[3]"))
        #expect(message.contains("\"ones\""))
    }

    // MARK: Errors that depend on configuration

    @Test func bodyOverTheLimitIsPayloadTooLarge() async throws {
        var configuration = testConfiguration()
        configuration.maxBodyBytes = 64
        let reply = try await withApp(configuration) { client in
            try await client.post("/v1/forward", Graphs.call(Graphs.square, Self.x + #","outputs":["y"]"#))
        }
        #expect(reply.status == .contentTooLarge)
        #expect(reply.errorCode == "payload_too_large")
    }

    @Test func graphOverTheNodeLimitIsLimitExceeded() async throws {
        var configuration = testConfiguration()
        configuration.limits.maxNodes = 2
        let reply = try await withApp(configuration) { client in
            try await client.post("/v1/backward", Graphs.call(Graphs.cubeSum, Self.x + #","outputs":["s"]"#))
        }
        #expect(reply.status == .contentTooLarge)
        #expect(reply.errorCode == "limit_exceeded")
    }

    @Test func jacobianOverTheElementLimitIsLimitExceeded() async throws {
        var configuration = testConfiguration()
        configuration.limits.maxElements = 100
        let reply = try await withApp(configuration) { client in
            try await client.post(
                "/v1/jacobian",
                Graphs.call(
                    Graphs.square,
                    #""values":{"x":{"shape":[20],"data":\#([Double](repeating: 1, count: 20))}},"outputs":["y"]"#))
        }
        #expect(reply.status == .contentTooLarge, "\(reply.text)")
        #expect(reply.errorCode == "limit_exceeded")
    }

    @Test func apiKeysGuardTheAPIButNotTheProbes() async throws {
        var configuration = testConfiguration()
        configuration.apiKeys = ["s3cret", "second-key"]
        try await withApp(configuration) { client in
            let body = Graphs.call(Graphs.square, Self.x + #","outputs":["y"]"#)
            let denied = try await client.post("/v1/forward", body)
            #expect(denied.status == .unauthorized)
            #expect(denied.errorCode == "unauthorized")
            #expect(
                try await client.post("/v1/forward", body, headers: [.authorization: "Bearer wrong"]).status
                    == .unauthorized)
            #expect(
                try await client.post("/v1/forward", body, headers: [.authorization: "Bearer s3cre"]).status
                    == .unauthorized)
            #expect(
                try await client.post("/v1/forward", body, headers: [.authorization: "Bearer s3cret"]).status == .ok)
            #expect(
                try await client.post("/v1/forward", body, headers: [.authorization: "Bearer second-key"]).status
                    == .ok)
            let keyHeader = try #require(HTTPField.Name("X-API-Key"))
            #expect(try await client.post("/v1/forward", body, headers: [keyHeader: "s3cret"]).status == .ok)
            #expect(try await client.get("/healthz").status == .ok)
        }
    }

    @Test func drainingRefusesNewWork() async throws {
        let readiness = Readiness()
        readiness.beginDraining()
        let reply = try await withApp(readiness: readiness) { client in
            try await client.post("/v1/forward", Graphs.call(Graphs.square, Self.x + #","outputs":["y"]"#))
        }
        #expect(reply.status == .serviceUnavailable)
        #expect(reply.errorCode == "shutting_down")
    }

    // MARK: The mapping itself

    @Test func transportErrorsMapToContractCodesAndNothingElseTo400() {
        var routes = Routes()
        routes.add(.get, "/v1/graphs/:id")
        let middleware = ErrorMiddleware<BasicRequestContext>(
            routes: routes, maxBodyBytes: 10, drainTimeout: .seconds(1),
            metrics: ServiceMetrics(factory: NOOPMetricsHandler.instance))
        func request(_ method: HTTPRequest.Method, _ path: String) -> Request {
            Request(
                head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path),
                body: .init(buffer: ByteBuffer()))
        }
        struct Unexpected: Error {}
        let cases: [(any Error, Request, HTTPResponse.Status, String)] = [
            (HTTPError(.notFound), request(.delete, "/v1/graphs/abc"), .methodNotAllowed, "method_not_allowed"),
            (HTTPError(.notFound), request(.get, "/v2"), .notFound, "not_found"),
            (HTTPError(.contentTooLarge), request(.post, "/v1/forward"), .contentTooLarge, "payload_too_large"),
            (HTTPError(.badRequest), request(.post, "/v1/forward"), .badRequest, "invalid_request"),
            (HTTPError(.unsupportedMediaType), request(.post, "/v1/forward"), .badRequest, "invalid_request"),
            (AutodiffError.cycle(node: "a"), request(.post, "/v1/forward"), .unprocessableContent, "cycle"),
            (Unexpected(), request(.post, "/v1/forward"), .internalServerError, "internal"),
        ]
        for (error, request, status, code) in cases {
            let mapped = middleware.map(error, request: request)
            #expect(mapped.status == status, "\(error)")
            #expect(mapped.code.rawValue == code, "\(error)")
        }
    }

    @Test(arguments: [
        (AutodiffError.invalidRequest("m"), HTTPResponse.Status.badRequest),
        (.limitExceeded("m"), .contentTooLarge),
        (.deadlineExceeded("m"), .gatewayTimeout),
        (.cycle(node: "a"), .unprocessableContent),
        (.scalarRequired(output: "y", shape: [2]), .unprocessableContent),
        (.internalError("broken"), .internalServerError),
    ])
    func coreErrorsMapToContractStatuses(error: AutodiffError, status: HTTPResponse.Status) {
        let mapped = APIError(error)
        #expect(mapped.status == status)
        #expect(mapped.code == error.code)
    }

    /// The contract's table (CONTRACT.md, "Errors"), written out independently of `ErrorCode.status`.
    static let contractStatuses: [String: Int] = [
        "invalid_json": 400, "invalid_request": 400, "unauthorized": 401, "graph_not_found": 404, "not_found": 404,
        "method_not_allowed": 405, "payload_too_large": 413, "limit_exceeded": 413, "unknown_op": 422,
        "unknown_name": 422, "duplicate_name": 422, "cycle": 422, "arity": 422, "invalid_attribute": 422,
        "shape_mismatch": 422, "seed_required": 422, "seed_shape_mismatch": 422, "unconnected_input": 422,
        "overloaded": 503, "shutting_down": 503, "deadline_exceeded": 504, "internal": 500,
        // Additions to the contract's codes, each documented in docs/API.md.
        "renderer_unavailable": 501,
    ]

    @Test func everyErrorCodeHasTheContractStatusAndIsDocumented() throws {
        #expect(Set(ErrorCode.allCases.map(\.rawValue)) == Set(Self.contractStatuses.keys))
        let apiDocument = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/API.md"), encoding: .utf8)
        for code in ErrorCode.allCases {
            #expect(code.status.code == Self.contractStatuses[code.rawValue], "\(code)")
            #expect(APIError(code: code, message: "m").response().status == code.status)
            let documented = apiDocument.split(separator: "\n").contains {
                $0.hasPrefix("| \(code.status.code) |") && $0.contains("`\(code.rawValue)`")
            }
            #expect(documented, "docs/API.md's error table has no \(code.status.code) row for \(code.rawValue)")
        }
    }
}
