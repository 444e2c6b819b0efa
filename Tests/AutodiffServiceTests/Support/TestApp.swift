import AutodiffCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import AutodiffService

/// A response, with its body parsed by Foundation (independently of the service's own JSON code).
struct Reply {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String
    let json: JSON

    /// The contract's error code, if the body is an error.
    var errorCode: String? { json["error"]["code"].string }
}

/// Runs `body` against an in-process router built the way `buildApplication` builds it.
func withApp<T: Sendable>(
    _ configuration: ServiceConfiguration = testConfiguration(),
    readiness: Readiness = Readiness(),
    pool: WorkerPool? = nil,
    metrics: MetricsExporter? = nil,
    _ body: @Sendable @escaping (any TestClientProtocol) async throws -> T
) async throws -> T {
    let router = buildRouter(configuration: configuration, readiness: readiness, pool: pool, metrics: metrics)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let app = Application(router: router, logger: logger)
    return try await app.test(.router) { client in try await body(client) }
}

func testConfiguration() -> ServiceConfiguration {
    var configuration = ServiceConfiguration()
    configuration.workers = 2
    return configuration
}

extension TestClientProtocol {
    /// Sends `body` (JSON text) and parses the reply.
    func send(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = [:])
        async throws -> Reply
    {
        try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) {
            response in
            let text = String(buffer: response.body)
            return Reply(status: response.status, headers: response.headers, text: text, json: JSON(parsing: text))
        }
    }

    func post(_ uri: String, _ body: String, headers: HTTPFields = [:]) async throws -> Reply {
        try await send(.post, uri, body, headers: headers)
    }

    func get(_ uri: String) async throws -> Reply {
        try await send(.get, uri)
    }
}

// MARK: Graphs used across the tests

enum Graphs {
    /// `y = x * x`: the founding example.
    static let square = #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x","x"]}]}"#
    /// `y = x³`, `s = Σ y`: second derivative 6x.
    static let cubeSum = #"""
        {"inputs":["x"],"nodes":[
          {"id":"x2","op":"mul","args":["x","x"]},
          {"id":"y","op":"mul","args":["x2","x"]},
          {"id":"s","op":"sum","args":["y"]}]}
        """#
    /// `y = x * 2`, with an unrelated input `u`.
    static let doubleWithSpare = #"{"inputs":["x","u"],"nodes":[{"id":"y","op":"mul","args":["x",2]}]}"#
    /// A small MLP layer: `loss = Σ tanh(x·W + b) * 0.5`.
    static let mlp = #"""
        {"inputs":["x","W","b"],"constants":{"half":0.5},"nodes":[
          {"id":"h","op":"matmul","args":["x","W"]},
          {"id":"z","op":"add","args":["h","b"]},
          {"id":"y","op":"tanh","args":["z"]},
          {"id":"s","op":"mul","args":["y","half"]},
          {"id":"loss","op":"sum","args":["s"]}]}
        """#

    /// A backward request for `graph` with the rest of the body given as JSON members.
    static func call(_ graph: String, _ members: String) -> String {
        #"{"graph":\#(graph),\#(members)}"#
    }
}
