import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Answers that their clients do not read. A call's slot is free again once its answer is rendered,
/// but the answer stays in memory until it has been written or its connection is closed, which for a
/// client that reads its status line and then nothing more is `--idle-timeout` + 10 s later (70 s by
/// default). Eight such calls of a 268 MB answer each took the server to 1.9 GB in 30 s (seventh
/// session, audit), past the 2 GiB of deploy/k8s with a few more, so any client could have the
/// process killed for memory. Answers not yet sent now share a budget of `--workers` × `--max-bytes`
/// (past it `503 overloaded`), given back when an answer has been sent or its connection is gone.
@Suite(.serialized) struct UnreadAnswerTests {
    static let maxBytes = 40_000_000
    /// About 17.5 MB of answer (`-1.2345678901234567e-300,` is 25 bytes), within `maxBytes` (the call is
    /// costed at 51 bytes an element, 35.7 MB): two such answers fit in one worker's budget, three do not.
    static let elements = 700_000

    static let bigCall = Array(
        (#"{"graph":{"inputs":["x"],"nodes":[{"id":"y","op":"broadcast_to","args":["x"],"#
            + #""attrs":{"shape":[\#(elements)]}}]},"values":{"x":-1.2345678901234567e-300},"outputs":["y"]}"#)
            .utf8)

    @Test func answersNobodyReadsShareOneBoundedBudget() throws {
        let server = try ServerProcess(arguments: [
            "--workers", "1", "--max-bytes", "\(Self.maxBytes)", "--idle-timeout", "600",
        ])
        var unread: [UnreadAnswer] = []
        for _ in 0..<6 {
            unread.append(try UnreadAnswer(port: server.port, path: "/v1/forward", body: Self.bigCall))
        }
        let statuses = unread.map(\.status)
        #expect(statuses == [200, 200, 503, 503, 503, 503], "\(statuses)")
        for refused in unread.dropFirst(2) {
            #expect(refused.head.lowercased().contains("retry-after:"), "\(refused.head)")
        }
        // A client that leaves gives its answer's bytes back.
        unread.removeAll()
        #expect(
            try Self.eventuallyAnswered(within: .seconds(20)) {
                try UnreadAnswer(port: server.port, path: "/v1/forward", body: Self.bigCall)
            })
        #expect(server.terminate() == 0)
    }

    /// Registers a graph whose canonical form is about 5 MB (a constant of 200,000 numbers); returns its id.
    static func registerFiveMegabyteGraph(_ server: ServerProcess) throws -> String {
        let constant = Array(repeating: "-1.2345678901234567e-300", count: 200_000).joined(separator: ",")
        let graph = #"{"graph":{"inputs":["x"],"constants":{"c":[\#(constant)]},"#
            + #""nodes":[{"id":"y","op":"mul","args":["x","c"]}]}}"#
        let registered = try curlPost(server.baseURL + "/v1/graphs", graph)
        try #require(registered.status == 201, "\(registered.body.prefix(200))")
        return try #require(registered.body.split(separator: "\"").dropFirst(3).first.map(String.init))
    }

    @Test func anUnreadRegisteredGraphCountsLikeAnAnswer() throws {
        // Served with a budget of 12 MB: two fit, three do not.
        let server = try ServerProcess(arguments: [
            "--workers", "1", "--max-bytes", "12000000", "--idle-timeout", "600",
        ])
        let id = try Self.registerFiveMegabyteGraph(server)
        var unread = try (0..<4).map { _ in try UnreadAnswer(port: server.port, get: "/v1/graphs/\(id)") }
        #expect(unread.map(\.status) == [200, 200, 503, 503], "\(unread.map(\.status))")
        unread.removeAll()
        #expect(server.terminate() == 0)
    }

    @Test func aStalledClientsAnswerIsGivenBackWhenItIsLetGo() throws {
        // A budget of 8 MB holds one 5 MB graph being sent, not two.
        let server = try ServerProcess(arguments: ["--workers", "1", "--max-bytes", "8000000", "--idle-timeout", "2"])
        let id = try Self.registerFiveMegabyteGraph(server)
        let stalled = try UnreadAnswer(port: server.port, get: "/v1/graphs/\(id)")
        #expect(stalled.status == 200)
        // It holds the budget until its connection is closed (`--idle-timeout` after the answer was
        // queued, then once 10 s pass in which none of its 1 MiB slices went out, which may take two
        // such spans while the kernel still takes some) and its answer freed: only then can another
        // client have the graph.
        #expect(
            try Self.eventuallyAnswered(within: .seconds(60)) {
                try UnreadAnswer(port: server.port, get: "/v1/graphs/\(id)")
            }, "the stalled client kept the budget")
        let (received, declared) = stalled.readToEnd()
        #expect(received < declared, "the stalled client got its whole answer: it was never let go")
        #expect(server.terminate() == 0)
    }

    @Test func aSlowButSteadyReaderGetsItsWholeAnswer() throws {
        // Hummingbird's idle timer closes a connection `--idle-timeout` after its answer was queued,
        // and the close waited 10 s for the writes whatever their progress: an answer that took
        // longer to read than that was cut once more of it was left than the kernel's socket buffers
        // hold. 17.5 MB at about 800 kB/s takes 22 s; it was cut after 11.
        let server = try ServerProcess(arguments: [
            "--workers", "1", "--max-bytes", "\(Self.maxBytes)", "--idle-timeout", "1",
        ])
        let reader = try UnreadAnswer(port: server.port, path: "/v1/forward", body: Self.bigCall)
        #expect(reader.status == 200)
        let (received, declared) = reader.readToEnd(pace: (bytes: 64 << 10, every: 0.08))
        #expect(received == declared)
        #expect(server.terminate() == 0)
    }

    /// Whether the call `send` makes is answered 200 (and read whole) within `limit`, sent again on 503.
    static func eventuallyAnswered(within limit: Duration, _ send: () throws -> UnreadAnswer) throws -> Bool {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            let call = try send()
            if call.status == 200 {
                let (received, declared) = call.readToEnd()
                return received == declared
            }
            try #require(call.status == 503)
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }
}

/// One request on its own connection with a small receive buffer, whose response head is read and
/// then, unless asked, nothing more: the server must keep the rest of the answer.
final class UnreadAnswer {
    private let fd: Int32
    let head: String
    let status: Int

    convenience init(port: Int, path: String, body: [UInt8]) throws {
        let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n\r\n"
        try self.init(port: port, rawRequest: Array(head.utf8) + body)
    }

    convenience init(port: Int, get path: String) throws {
        try self.init(port: port, rawRequest: Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
    }

    private init(port: Int, rawRequest request: [UInt8]) throws {
        // A small receive buffer, so the server cannot hand most of the answer to the kernel.
        let fd = try NaiveClient.connectedSocket(port: port, timeouts: [SO_RCVTIMEO: 30], receiveBuffer: 4096)
        self.fd = fd
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }
            sent += n
        }
        var reply: [UInt8] = []
        var byte: UInt8 = 0
        while !reply.ends(with: Array("\r\n\r\n".utf8)), recv(fd, &byte, 1, 0) == 1 {
            reply.append(byte)
        }
        head = String(decoding: reply, as: UTF8.self)
        status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard reply.ends(with: Array("\r\n\r\n".utf8)) else {
            throw NaiveClient.Failure(description: "no response head: errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// The response's `Content-Length` (0 without one).
    var declaredLength: Int {
        head.split(separator: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
    }

    /// Reads the body until the connection ends or `Content-Length` bytes have come, `pace.bytes` at a
    /// time every `pace.every` seconds; returns the bytes received and those declared.
    func readToEnd(pace: (bytes: Int, every: TimeInterval)? = nil) -> (received: Int, declared: Int) {
        let declared = declaredLength
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        var inStep = 0
        while received < declared {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            received += n
            inStep += n
            if let pace, inStep >= pace.bytes {
                inStep = 0
                Thread.sleep(forTimeInterval: pace.every)
            }
        }
        return (received, declared)
    }
}
