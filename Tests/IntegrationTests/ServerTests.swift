import Foundation
import Testing

/// The real `autodiffd` binary, over a socket, with `curl`.
@Suite(.serialized) struct ServerTests {
    static let square = #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x","x"]}]}"#

    @Test func foundingExampleMalformedRequestAndCleanShutdown() throws {
        let server = try ServerProcess()

        let health = try curl([server.baseURL + "/healthz"])
        #expect(health.status == 200)
        #expect(health.body == #"{"status":"ok"}"#)
        #expect(try curl([server.baseURL + "/readyz"]).status == 200)

        // y = x ⊙ x at x = [1, 2, 3]: the seed "ones" gives the gradient of Σy, 2x.
        let ones = try curlPost(
            server.baseURL + "/v1/backward",
            #"{"graph":\#(Self.square),"values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":"ones"}}"#)
        #expect(ones.status == 200)
        let gradients = (ones.json as? [String: Any])?["gradients"] as? [String: Any]
        #expect((gradients?["x"] as? [NSNumber])?.map(\.doubleValue) == [2, 4, 6])

        // Without a seed a non-scalar output is ambiguous.
        let unseeded = try curlPost(
            server.baseURL + "/v1/backward", #"{"graph":\#(Self.square),"values":{"x":[1,2,3]},"outputs":["y"]}"#)
        #expect(unseeded.status == 422)
        #expect(unseeded.errorCode == "seed_required")

        let malformed = try curlPost(server.baseURL + "/v1/backward", #"{"graph": {"inputs": ["x"]"#)
        #expect(malformed.status == 400)
        #expect(malformed.errorCode == "invalid_json")

        let unknown = try curl([server.baseURL + "/v1/nothing"])
        #expect(unknown.status == 404)
        #expect(unknown.errorCode == "not_found")

        // The executable bootstraps metrics: the service's own and Hummingbird's per-route ones.
        let metrics = try curl([server.baseURL + "/metrics"])
        #expect(metrics.status == 200)
        #expect(metrics.body.contains(#"autodiffd_errors_total{code="seed_required"} 1"#))
        #expect(metrics.body.contains(#"hb_requests{http_route="/v1/backward""#))

        #expect(server.terminate() == 0, "\(server.logText)")
        #expect(server.logText.contains("draining"))
    }

    @Test func sigtermDrainsInFlightWorkThenExitsCleanly() throws {
        // The grace is long: this call must finish, however slow the machine (the grace has its own test).
        let server = try ServerProcess(
            arguments: ["--workers", "1", "--shutdown-grace", "600", "--request-timeout", "600"] + SlowCall.arguments)
        let inFlight = try startCurlPost(server.baseURL + "/v1/forward", SlowCall.body)

        // Wait (bounded) until the call occupies the worker, then ask the server to stop.
        waitUntilBusy(server, while: inFlight)
        let wasInFlight = inFlight.process.isRunning
        kill(server.process.processIdentifier, SIGTERM)
        #expect(wasInFlight, "the call finished before SIGTERM, so draining was not exercised")
        // Readiness goes away (503, or the listener closed) while the call is still computing.
        var ready = true
        for _ in 0..<2_000 {
            ready = (try? curl([server.baseURL + "/readyz"]).status) == 200
            if !ready { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        #expect(!ready)

        let reply = finishCurl(inFlight)
        #expect(reply.status == 200, "\(reply.body)")
        #expect(abs((SlowCall.perElement(reply) ?? 0) - SlowCall.dottie) < 1e-9, "\(reply.body)")
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0, "\(server.logText)")
    }

    @Test func hostileBodiesGetClientErrorsAndTheServerSurvives() throws {
        let server = try ServerProcess(arguments: ["--max-body-bytes", "1000000"])
        let deep = try curlPost(server.baseURL + "/v1/forward", String(repeating: "[", count: 100_000))
        #expect(deep.status == 400)
        let huge = try curlPost(
            server.baseURL + "/v1/forward",
            #"{"graph":\#(Self.square),"values":{"x":{"shape":[100000,100000,100000],"data":[]}},"outputs":["y"]}"#)
        #expect(huge.status == 413)
        #expect(huge.errorCode == "limit_exceeded")
        let tooBig = try curlPost(server.baseURL + "/v1/forward", String(repeating: " ", count: 2_000_000))
        #expect(tooBig.status == 413)
        #expect(tooBig.errorCode == "payload_too_large")
        #expect(try curl([server.baseURL + "/healthz"]).status == 200)
        #expect(server.terminate() == 0)
    }

    @Test func bodyStillArrivingAtTheDeadlineIsDeadlineExceeded() throws {
        let server = try ServerProcess(arguments: ["--request-timeout", "0.5"])
        // 4 KB at 1 KB/s takes about 4 s; the server gives up after 0.5 s.
        let body = #"{"graph":"# + String(repeating: " ", count: 4_000) + "}"
        let slow = try curl(
            ["--limit-rate", "1K", "-X", "POST", "--data-binary", "@-", server.baseURL + "/v1/forward"], input: body)
        #expect(slow.status == 504)
        #expect(slow.errorCode == "deadline_exceeded")
        #expect(try curl([server.baseURL + "/healthz"]).status == 200)
        #expect(server.terminate() == 0)
    }

    @Test func clientsThatSendTheWholeBodyFirstStillGetTheirErrorAnswer() throws {
        let server = try ServerProcess(arguments: ["--max-body-bytes", "1000000", "--api-key", "k"])
        // Far more than socket buffers hold, so the server must read it for the client to finish.
        let big = [UInt8](repeating: UInt8(ascii: " "), count: 40_000_000)
        let key = ["Authorization: Bearer k"]
        #expect(try NaiveClient.post(port: server.port, path: "/v1/forward", body: big, headers: key) == 413)
        #expect(try NaiveClient.post(port: server.port, path: "/v1/forward", body: big) == 401)
        #expect(try NaiveClient.post(port: server.port, path: "/v2/nothing", body: big, headers: key) == 404)
        #expect(try NaiveClient.post(port: server.port, path: "/healthz", body: big, headers: key) == 405)
        #expect(server.terminate() == 0)
    }

    @Test func environmentConfiguresTheServer() throws {
        let server = try ServerProcess(environment: ["AUTODIFFD_API_KEYS": "k1"])
        let body = #"{"graph":\#(Self.square),"values":{"x":2},"outputs":["y"]}"#
        #expect(try curlPost(server.baseURL + "/v1/forward", body).status == 401)
        let allowed = try curl([
            "-X", "POST", "-H", "Authorization: Bearer k1", "--data-binary", body, server.baseURL + "/v1/forward",
        ])
        #expect(allowed.status == 200)
        #expect(server.terminate() == 0)
    }
}
