import Testing

@testable import AutodiffService

/// `GET /metrics` in Prometheus' text format, with fixed labels.
@Suite struct MetricsTests {
    @Test func metricsCountErrorsByCodeAndSampleThePool() async throws {
        var configuration = testConfiguration()
        configuration.workers = 3
        let exporter = MetricsExporter()
        let text = try await withApp(configuration, metrics: exporter) { client in
            _ = try await client.post(
                "/v1/backward", Graphs.call(Graphs.square, #""values":{"x":[1,2]},"outputs":["y"]"#))
            _ = try await client.post("/v1/backward", "{")
            _ = try await client.post("/v1/graphs", #"{"graph":\#(Graphs.square)}"#)
            let reply = try await client.get("/metrics")
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType]?.hasPrefix("text/plain") == true)
            return reply.text
        }
        #expect(text.contains("autodiffd_workers 3"))
        #expect(text.contains("autodiffd_workers_busy 0"))
        #expect(text.contains("autodiffd_graphs_registered 1"))
        #expect(text.contains(#"autodiffd_errors_total{code="seed_required"} 1"#))
        #expect(text.contains(#"autodiffd_errors_total{code="invalid_json"} 1"#))
        #expect(text.contains(#"autodiffd_errors_total{code="shape_mismatch"} 0"#))
    }

    @Test func metricsAreServedOnlyWhenEnabled() async throws {
        let reply = try await withApp { client in try await client.get("/metrics") }
        #expect(reply.errorCode == "not_found")
    }
}
