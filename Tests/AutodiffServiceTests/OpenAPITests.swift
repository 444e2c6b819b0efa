import Foundation
import Hummingbird
import Testing

@testable import AutodiffService

/// `GET /openapi.json`: the document in the repository, describing exactly the routes served.
@Suite struct OpenAPITests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func document() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8))
        return try #require(object as? [String: Any])
    }

    @Test func servedDocumentIsTheOneInTheRepository() async throws {
        let file = try String(contentsOf: Self.repository.appendingPathComponent("docs/openapi.json"), encoding: .utf8)
        let served = try await withApp { client in try await client.get("/openapi.json") }
        #expect(served.status == .ok)
        #expect(served.headers[.contentType] == "application/json")
        #expect(
            served.text == file.trimmingCharacters(in: .newlines),
            "docs/openapi.json changed: run scripts/embed-openapi.sh")
        #expect(try Self.document()["openapi"] as? String == "3.1.0")
    }

    /// Every route the router serves is documented, and every documented route is served (HEAD aside:
    /// Hummingbird answers it for every GET, as the document's description says).
    @Test func documentAndRouterListTheSameRoutes() throws {
        let router = buildRouter(
            configuration: testConfiguration(), readiness: Readiness(), metrics: MetricsExporter())
        let served = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })

        let paths = try #require(try Self.document()["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, operations) in paths {
            for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
        }
        #expect(served.count >= 12)
        #expect(served.subtracting(documented).isEmpty, "served but not in docs/openapi.json")
        #expect(documented.subtracting(served).isEmpty, "in docs/openapi.json but not served")
    }

    /// The error codes each documented status allows are the contract's, status by status.
    @Test func errorResponsesListTheContractsCodes() throws {
        let components = try #require(try Self.document()["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: [String: Any]])
        func codes(_ status: Int) -> Set<String> {
            let error = (schemas["Error\(status)"]?["properties"] as? [String: Any])?["error"] as? [String: Any]
            let code = (error?["properties"] as? [String: Any])?["code"] as? [String: Any]
            return Set(code?["enum"] as? [String] ?? [])
        }
        #expect(codes(400) == ["invalid_json", "invalid_request"])
        #expect(codes(401) == ["unauthorized"])
        #expect(codes(404) == ["not_found", "graph_not_found"])
        #expect(codes(405) == ["method_not_allowed"])
        #expect(codes(413) == ["payload_too_large", "limit_exceeded"])
        #expect(
            codes(422) == [
                "unknown_op", "unknown_name", "duplicate_name", "cycle", "arity", "invalid_attribute",
                "shape_mismatch", "seed_required", "seed_shape_mismatch", "unconnected_input",
            ])
        #expect(codes(500) == ["internal"])
        #expect(codes(503) == ["overloaded", "shutting_down"])
        #expect(codes(504) == ["deadline_exceeded"])
    }

    /// The document is public, like the probes, even when API keys are configured.
    @Test func documentNeedsNoKey() async throws {
        var configuration = testConfiguration()
        configuration.apiKeys = ["k"]
        let reply = try await withApp(configuration) { client in try await client.get("/openapi.json") }
        #expect(reply.status == .ok)
    }
}
