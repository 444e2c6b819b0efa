import Foundation
import Testing

/// What hostile or unlucky clients, and shutdown, do to the real binary (issue 10, items 3–7).
@Suite(.serialized) struct ReliabilityTests {
    static let square = #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x","x"]}]}"#
    static let small = #"{"graph":\#(square),"values":{"x":3},"outputs":["y"]}"#

    /// `s = Σ b^(k+1)` for `b` = the scalar input broadcast to `m×m`: `k` matrix products of about
    /// 2·m³ flops each (m = 600, k = 100: 43 GFLOP, a second or more of one core even through
    /// OpenBLAS), from a tiny body. The values stay finite: at x = 1/m, b is idempotent. With `matrix`,
    /// the answer also holds the m×m product (megabytes of JSON). Servers running it need
    /// `heavyArguments` (the work is above the default --max-work).
    static func heavy(k: Int, m: Int = 600, matrix: Bool = false) -> String {
        var nodes = [#"{"id":"b","op":"broadcast_to","args":["x"],"attrs":{"shape":[\#(m),\#(m)]}}"#]
        nodes.append(#"{"id":"m1","op":"matmul","args":["b","b"]}"#)
        for i in stride(from: 2, through: k, by: 1) {
            nodes.append(#"{"id":"m\#(i)","op":"matmul","args":["m\#(i - 1)","b"]}"#)
        }
        nodes.append(#"{"id":"s","op":"sum","args":["m\#(k)"]}"#)
        let outputs = matrix ? #"["s","m\#(k)"]"# : #"["s"]"#
        return #"{"graph":{"inputs":["x"],"nodes":[\#(nodes.joined(separator: ","))]},"#
            + #""values":{"x":\#(1.0 / Double(m))},"outputs":\#(outputs)}"#
    }

    static let heavyArguments = ["--max-work", "1000000000000"]

    /// Polls `condition` every 5 ms, at most `tries` times; returns whether it came true.
    static func poll(tries: Int = 4_000, _ condition: () -> Bool) -> Bool {
        for _ in 0..<tries {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return condition()
    }

    // MARK: Item 4: authentication by route

    @Test func everySpellingOfAV1PathNeedsTheKey() throws {
        let server = try ServerProcess(arguments: ["--api-key", "k"])
        for path in ["/v1/forward", "//v1/forward", "/v1//forward", "/./v1/forward", "/v1/./forward",
            "/v1/../v1/forward", "/%761/forward", "/v1/%66orward", "/x/../v1/forward"]
        {
            let denied = try curl(
                ["--path-as-is", "-X", "POST", "--data-binary", Self.small, server.baseURL + path])
            #expect([401, 404].contains(denied.status), "\(path): \(denied.body)")
            #expect(denied.errorCode != nil, "\(path): \(denied.body)")
        }
        let allowed = try curl([
            "--path-as-is", "-X", "POST", "-H", "X-API-Key: k", "--data-binary", Self.small,
            server.baseURL + "//v1//forward",
        ])
        #expect(allowed.status == 200, "\(allowed.body)")
        #expect(server.terminate() == 0)
    }

    // MARK: Item 5: admission that slow clients cannot exhaust; 100-continue

    @Test func slowUploadsHoldNoAdmissionSlot() throws {
        // Two slots in all; eight clients that send a head and a few body bytes, then nothing.
        // The body timeout is what a normal call would wait for if the slow uploads held the slots: long
        // enough that a loaded machine cannot make the normal call itself take that long.
        let server = try ServerProcess(arguments: ["--workers", "1", "--queue-depth", "1", "--body-timeout", "8"])
        let slow = try (0..<8).map { _ in
            // The interim 100 Continue proves the server has parsed the head before the next step.
            try OpenRequest(
                port: server.port, path: "/v1/forward", declaredLength: 1_000, firstBytes: Array(#"{"gra"#.utf8),
                expectContinue: true)
        }
        let started = Date()
        let normal = try curlPost(server.baseURL + "/v1/forward", Self.small)
        #expect(normal.status == 200, "\(normal.body)")
        #expect(Date().timeIntervalSince(started) < 8, "the normal call waited for the slow uploads")
        for request in slow {
            #expect(try request.status() == 504)  // their bodies never came within --body-timeout
        }
        #expect(try curlPost(server.baseURL + "/v1/forward", Self.small).status == 200)
        #expect(server.terminate() == 0)
    }

    @Test func largeBodiesAreNotHeldBackByExpectContinue() throws {
        let server = try ServerProcess()
        // curl sends "Expect: 100-continue" for bodies over 1 MB and waits up to 60 s here for the answer.
        let body = Self.small + String(repeating: " ", count: 2_000_000)
        let started = Date()
        let reply = try curl([
            "--expect100-timeout", "60", "-X", "POST", "--data-binary", "@-", server.baseURL + "/v1/forward",
        ], input: body)
        #expect(reply.status == 200, "\(reply.body)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(server.terminate() == 0)
    }

    // MARK: Item 3: a client that leaves is not computed for

    @Test func queuedCallOfAClientThatLeftIsDropped() throws {
        let server = try ServerProcess(arguments: ["--workers", "1", "--request-timeout", "300"] + Self.heavyArguments)
        let heavy = try startCurlPost(server.baseURL + "/v1/forward", Self.heavy(k: 200))
        #expect(Self.poll { workerLoad(server)?.busy == 1 })
        // This call queues behind the heavy one; its client gives up after 0.5 s.
        let impatient = try start(
            "/usr/bin/env",
            [
                "curl", "-s", "--max-time", "0.5", "-X", "POST", "--data-binary", Self.small,
                server.baseURL + "/v1/forward",
            ])
        #expect(Self.poll { workerLoad(server)?.queued == 1 })
        _ = impatient.finish()
        // Dropped from the queue at once, while the heavy call still holds the only worker.
        let dropped = Self.poll { workerLoad(server).map { $0.queued == 0 && $0.busy == 1 } ?? false }
        #expect(dropped, "the queued call was not dropped while the worker was busy")
        #expect(finishCurl(heavy).status == 200)
        let metrics = try curl([server.baseURL + "/metrics"]).body
        #expect(metrics.contains(#"autodiffd_errors_total{code="internal"} 0"#))
        #expect(server.terminate() == 0)
        #expect(!server.logText.contains("request failed unexpectedly"), "\(server.logText)")
    }

    @Test func aClientThatLeavesDuringItsUploadIsNoServerError() throws {
        let server = try ServerProcess()
        var upload: OpenRequest? = try OpenRequest(
            port: server.port, path: "/v1/forward", declaredLength: 1_000, firstBytes: Array(#"{"gra"#.utf8),
            expectContinue: true)
        _ = upload
        upload = nil  // closes the connection with 995 bytes of the body still to come
        #expect(Self.poll { server.logText.contains("route=/v1/forward") }, "\(server.logText)")
        let metrics = try curl([server.baseURL + "/metrics"]).body
        #expect(metrics.contains(#"autodiffd_errors_total{code="internal"} 0"#))
        #expect(server.terminate() == 0)
        #expect(!server.logText.contains("request failed unexpectedly"), "\(server.logText)")
        #expect(!server.logText.contains("status=500"), "\(server.logText)")
    }

    // MARK: Item 6: a drain that loses nothing

    @Test func drainAnswersEveryInFlightCallCompletely() throws {
        let m = 600
        let server = try ServerProcess(
            arguments: [
                "--workers", "2", "--drain-delay", "1", "--shutdown-grace", "300", "--request-timeout", "300",
            ] + Self.heavyArguments)
        let body = Self.heavy(k: 100, m: m, matrix: true)
        let calls = try (0..<4).map { _ in try startCurlPost(server.baseURL + "/v1/forward", body) }
        #expect(Self.poll { workerLoad(server)?.busy == 2 })
        kill(server.process.processIdentifier, SIGTERM)

        // /readyz: 200 until the signal is handled, then 503 for the drain delay, then no listener.
        var statuses: [Int] = []
        _ = Self.poll(tries: 10_000) {
            let status = (try? curl(["--max-time", "2", server.baseURL + "/readyz"]).status) ?? 0
            if statuses.last != status { statuses.append(status) }
            return status == 0
        }
        #expect(statuses.drop { $0 == 200 }.first == 503, "readyz went \(statuses)")
        #expect(statuses.last == 0, "readyz went \(statuses)")

        for call in calls {
            let reply = finishCurl(call)
            #expect(reply.status == 200, "\(reply.body.prefix(200))")
            let product = ((reply.json as? [String: Any])?["outputs"] as? [String: Any])?["m100"] as? [[NSNumber]]
            #expect(product?.count == m && product?.allSatisfy { $0.count == m } == true, "incomplete body")
        }
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0, "\(server.logText)")
    }

    @Test func aClientThatStopsReadingCannotHoldTheDrainPastItsGrace() throws {
        let server = try ServerProcess(arguments: ["--shutdown-grace", "2"])
        // A 24 MB answer (6 M elements of `0.5`) to a client that never reads: the sockets can buffer
        // only part of it, so the answer is still being written when the server is asked to stop.
        let body =
            #"{"graph":{"inputs":["x"],"nodes":[{"id":"b","op":"broadcast_to","args":["x"],"#
            + #""attrs":{"shape":[6000,1000]}}]},"values":{"x":0.5},"outputs":["b"]}"#
        let stalled = try OpenRequest(
            port: server.port, path: "/v1/forward", declaredLength: body.utf8.count, firstBytes: Array(body.utf8),
            expectContinue: false)
        #expect(Self.poll { server.logText.contains("route=/v1/forward") }, "\(server.logText)")
        let signalled = Date()
        kill(server.process.processIdentifier, SIGTERM)
        server.process.waitUntilExit()
        // The close waits for the reader until the grace ends, and no longer (it used to wait 10 s).
        #expect(Date().timeIntervalSince(signalled) < 7, "the drain outlived its 2 s grace")
        #expect(server.process.terminationStatus == 0, "\(server.logText)")
        withExtendedLifetime(stalled) {}
    }

    @Test func callsStillRunningWhenTheGraceEndsAnswerShuttingDown() throws {
        let server = try ServerProcess(arguments: ["--workers", "1", "--shutdown-grace", "1"] + Self.heavyArguments)
        let body = Self.heavy(k: 200)
        let calls = try (0..<4).map { _ in try startCurlPost(server.baseURL + "/v1/forward", body) }
        #expect(Self.poll { workerLoad(server).map { $0.busy == 1 && $0.queued == 3 } ?? false })
        let signalled = Date()
        kill(server.process.processIdentifier, SIGTERM)
        let replies = calls.map(finishCurl)
        server.process.waitUntilExit()
        #expect(Date().timeIntervalSince(signalled) < 15, "the drain outlived its grace")
        #expect(server.process.terminationStatus == 0, "\(server.logText)")
        for reply in replies {
            #expect(
                reply.status == 200 || reply.errorCode == "shutting_down", "\(reply.status) \(reply.body.prefix(200))")
        }
        #expect(replies.contains { $0.status == 503 })
    }
}
