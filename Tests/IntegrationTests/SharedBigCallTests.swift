import Foundation
import Testing

/// A lone big call that an idle worker helps (`WorkSharing`: the second half of each span of a
/// fused group), against the real binary with two workers: other calls still get a worker within
/// moments, a deadline or a client leaving mid-share frees both workers, a drain mid-share exits
/// cleanly, and two big calls at once give the answers each gives alone.
@Suite(.serialized) struct SharedBigCallTests {
    /// One fused group of `steps` elementwise steps over `elements` elements, from a tiny body:
    /// `sin` of a huge value (glibc's slow argument reduction) alternating with a product by 1e300
    /// that makes the next argument huge again, then the sum. Its cost is within the default limits
    /// for `steps` × `elements` × 8 bytes under 1 GiB.
    static func body(steps: Int, elements: Int = 1_000_000) -> String {
        var nodes = [#"{"id":"b","op":"broadcast_to","args":["x"],"attrs":{"shape":[\#(elements)]}}"#]
        var previous = "b"
        for k in 0..<steps {
            let node =
                k % 2 == 0
                ? #"{"id":"c\#(k)","op":"sin","args":["\#(previous)"]}"#
                : #"{"id":"c\#(k)","op":"mul","args":["\#(previous)",1e300]}"#
            nodes.append(node)
            previous = "c\(k)"
        }
        nodes.append(#"{"id":"s","op":"sum","args":["\#(previous)"]}"#)
        return #"{"graph":{"inputs":["x"],"nodes":[\#(nodes.joined(separator: ","))]},"#
            + #""values":{"x":1e300},"outputs":["s"]}"#
    }

    static let small = ReliabilityTests.small

    /// A call of many seconds for the tests that cut it short, and the limits that let it run (the
    /// cost model counts every intermediate: 3.2 GB).
    static let longSteps = 400
    static let longArguments = ["--max-bytes", "4000000000"]

    /// Polls `/readyz` until one call is running (bounded), while `program` runs.
    static func waitUntilRunning(_ server: ServerProcess, _ program: RunningProgram) {
        _ = ReliabilityTests.poll { !program.process.isRunning || workerLoad(server)?.busy == 1 }
    }

    @Test func aCallArrivingWhileAWorkerHelpsWaitsForOneSpanNotTheBigCallsHalf() throws {
        let server = try ServerProcess(arguments: ["--workers", "2"])
        let started = Date()
        let big = try startCurlPost(server.baseURL + "/v1/forward", Self.body(steps: 120))
        Self.waitUntilRunning(server, big)
        // The small call goes while the big one computes its one fused group, the idle worker
        // helping. Before the fix the helper held half of the whole group, and the small call
        // waited for that: it came back when the big call did. Now it waits for half a span, and
        // comes back while most of the big call is still to run. (Compared with what is left of
        // the big call, not with a time: on a loaded machine a span takes longer too.)
        let sent = Date()
        let reply = try curlPost(server.baseURL + "/v1/forward", Self.small)
        let smallDone = Date()
        let bigReply = finishCurl(big)
        let bigDone = Date()
        let bigTook = bigDone.timeIntervalSince(started)
        let bigLeft = bigDone.timeIntervalSince(smallDone)
        #expect(reply.status == 200, "\(reply.body)")
        #expect(bigReply.status == 200, "\(bigReply.body)")
        try #require(bigTook > 1, "the big call took \(bigTook) s: too short to tell anything")
        #expect(
            bigLeft > bigTook / 4,
            """
            a small call waited \(smallDone.timeIntervalSince(sent)) s and came back \(bigLeft) s before a big \
            call of \(bigTook) s
            """)
        #expect(server.terminate() == 0)
    }

    @Test func aDeadlinePassingMidShareAnswers504AndFreesBothWorkers() throws {
        let server = try ServerProcess(arguments: ["--workers", "2", "--request-timeout", "2"] + Self.longArguments)
        let started = Date()
        let reply = try curlPost(server.baseURL + "/v1/forward", Self.body(steps: Self.longSteps))
        let took = Date().timeIntervalSince(started)
        #expect(reply.status == 504, "\(reply.body)")
        #expect(reply.errorCode == "deadline_exceeded")
        // Stopped at the deadline, not at the end of the group (many times longer).
        #expect(took < 10, "the call answered after \(took) s with a 2 s deadline")
        #expect(ReliabilityTests.poll { workerLoad(server)?.busy == 0 })
        // Both workers serve again: two calls at once.
        let first = try startCurlPost(server.baseURL + "/v1/forward", Self.small)
        let second = try curlPost(server.baseURL + "/v1/forward", Self.small)
        #expect(second.status == 200)
        #expect(finishCurl(first).status == 200)
        #expect(server.terminate() == 0)
    }

    @Test func aClientLeavingMidShareLeavesTheServerServing() throws {
        let server = try ServerProcess(arguments: ["--workers", "2", "--request-timeout", "4"] + Self.longArguments)
        // curl gives up after 1 s and closes the connection while the call is being computed.
        let gone = try curl(
            ["--max-time", "1", "-X", "POST", "--data-binary", "@-", server.baseURL + "/v1/forward"],
            input: Self.body(steps: Self.longSteps))
        #expect(gone.status == 0)
        let reply = try curlPost(server.baseURL + "/v1/forward", Self.small)
        #expect(reply.status == 200, "\(reply.body)")
        // The abandoned call ends at its deadline at the latest, and both workers are free again.
        #expect(ReliabilityTests.poll(tries: 4_000) { workerLoad(server)?.busy == 0 })
        #expect(try curlPost(server.baseURL + "/v1/forward", Self.small).status == 200)
        #expect(server.terminate() == 0)
        #expect(!server.logText.contains("internal"), "\(server.logText)")
    }

    @Test func aDrainMidShareAnswersTheCallAndExitsCleanly() throws {
        let server = try ServerProcess(arguments: ["--workers", "2", "--shutdown-grace", "2"] + Self.longArguments)
        let big = try startCurlPost(server.baseURL + "/v1/forward", Self.body(steps: Self.longSteps))
        Self.waitUntilRunning(server, big)
        let status = server.terminate()
        let reply = finishCurl(big)
        #expect(status == 0)
        // Computed in time, or cut off by the grace: either way a whole answer.
        #expect([200, 503].contains(reply.status), "\(reply.status): \(reply.body)")
        if reply.status == 503 { #expect(reply.errorCode == "shutting_down") }
    }

    @Test func twoBigCallsAtOnceGiveTheAnswersEachGivesAlone() throws {
        let server = try ServerProcess(arguments: ["--workers", "2"])
        let bodies = [Self.body(steps: 16, elements: 300_000), Self.body(steps: 14, elements: 400_000)]
        let alone = try bodies.map { try curlPost(server.baseURL + "/v1/forward", $0) }
        let together = try bodies.map { try startCurlPost(server.baseURL + "/v1/forward", $0) }.map(finishCurl)
        for (single, concurrent) in zip(alone, together) {
            #expect(single.status == 200, "\(single.body)")
            #expect(concurrent.status == 200, "\(concurrent.body)")
            #expect(single.body == concurrent.body)
        }
        #expect(server.terminate() == 0)
    }
}
