import Foundation
import Testing

/// What an operator sees of the real binary: JSON request logs, configuration errors before the
/// port is bound, the health-check subcommand, and the OpenAPI document.
@Suite(.serialized) struct OperabilityTests {
    static let square = #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x","x"]}]}"#

    @Test func jsonLogsHaveOneObjectPerLineAndOneRequestLinePerRequest() throws {
        let server = try ServerProcess(
            arguments: ["--log-format", "json"], environment: ["AUTODIFFD_API_KEYS": "k3y-abc"])
        let body = #"{"graph":\#(Self.square),"values":{"x":[1.25,2]},"outputs":["y"],"seeds":{"y":"ones"}}"#
        let ok = try curl([
            "-X", "POST", "-H", "Authorization: Bearer k3y-abc", "-H", "X-Request-ID: ci-run-7", "-D", "-",
            "--data-binary", body, server.baseURL + "/v1/backward",
        ])
        #expect(ok.status == 200)
        #expect(ok.body.lowercased().contains("x-request-id: ci-run-7"))
        let unauthorized = try curl(["-X", "POST", "--data-binary", body, server.baseURL + "/v1/backward"])
        #expect(unauthorized.status == 401)
        #expect(server.terminate() == 0)

        let lines = server.logText.split(separator: "\n")
        let objects = lines.map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.allSatisfy { $0 != nil }, "every stderr line is a JSON object: \(server.logText)")
        let requests = objects.compactMap { $0 }.filter { $0["message"] as? String == "request" }
        try #require(requests.count == 2, "\(server.logText)")
        #expect(requests[0]["request.id"] as? String == "ci-run-7")
        #expect(requests[0]["route"] as? String == "/v1/backward")
        #expect(requests[0]["method"] as? String == "POST")
        #expect((requests[0]["status"] as? NSNumber)?.intValue == 200)
        #expect((requests[0]["bytes_in"] as? NSNumber)?.intValue == body.utf8.count)
        #expect(((requests[0]["bytes_out"] as? NSNumber)?.intValue ?? 0) > 0)
        #expect(requests[0]["level"] as? String == "info")
        #expect((requests[1]["status"] as? NSNumber)?.intValue == 401)
        #expect(requests[1]["error"] as? String == "unauthorized")
        #expect(!server.logText.contains("k3y-abc"))
        #expect(!server.logText.contains("1.25"))
        #expect(objects.contains { $0?["message"] as? String == "server started" })
    }

    /// A chunked upload has no Content-Length; the log counts the bytes that arrived.
    @Test func chunkedUploadsAreCountedInBytesIn() throws {
        let server = try ServerProcess(arguments: ["--log-format", "json"])
        let body = #"{"graph":\#(Self.square),"values":{"x":[3]},"outputs":["y"]}"#
        let reply = try curl([
            "-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", body, server.baseURL + "/v1/forward",
        ])
        #expect(reply.status == 200)
        #expect(server.terminate() == 0)
        let objects = server.logText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let request = try #require(objects.first { $0["message"] as? String == "request" }, "\(server.logText)")
        #expect((request["bytes_in"] as? NSNumber)?.intValue == body.utf8.count)
    }

    @Test func textLogsHaveTheSameFields() throws {
        let server = try ServerProcess()
        #expect(try curl([server.baseURL + "/v1/graphs/sha256-abc"]).status == 404)
        #expect(server.terminate() == 0)
        let line = try #require(server.logText.split(separator: "\n").first { $0.hasSuffix(" request") })
        for field in ["route=/v1/graphs/{id}", "status=404", "error=graph_not_found", "method=GET", "request.id="] {
            #expect(line.contains(field), "\(line)")
        }
    }

    /// Invalid settings: a non-zero exit with one line naming the setting, and nothing bound.
    @Test(arguments: [
        (["--log-format", "xml"], [String: String](), "--log-format"),
        (["--port", "99999"], [:], "--port"),
        (["--workers", "0"], [:], "--workers"),
        (["--port", "abc"], [:], "--port"),
        ([], ["AUTODIFFD_WORKERS": "abc"], "AUTODIFFD_WORKERS"),
        ([], ["AUTODIFFD_LOG_FORMAT": "xml"], "AUTODIFFD_LOG_FORMAT"),
        ([], ["AUTODIFFD_REQUEST_TIMEOUT": "-1"], "AUTODIFFD_REQUEST_TIMEOUT"),
    ])
    func invalidConfigurationExitsWithOneLineBeforeBinding(
        arguments: [String], environment: [String: String], setting: String
    ) throws {
        let port = try freePort()
        let process = Process()
        process.executableURL = try ServerProcess.binary()
        // The port flag comes first so a bad --port later on the line overrides it.
        process.arguments = ["--host", "127.0.0.1", "--port", String(port)] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        #expect(process.terminationStatus != 0)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1, "\(text)")
        #expect(text.contains(setting), "\(text)")
        #expect(!text.contains("server started"))
        #expect(try curl(["--max-time", "2", "http://127.0.0.1:\(port)/healthz"]).status == 0, "nothing listens")
    }

    @Test func healthCheckFollowsTheConfiguredPort() throws {
        let server = try ServerProcess()
        let binary = try ServerProcess.binary().path
        defer { _ = server.terminate() }

        let byFlag = try runWithStatus(
            binary, ["healthcheck", "--port", String(server.port)], environment: ["PORT": "1"])
        #expect(byFlag.status == 0, "\(byFlag.output)")
        #expect(byFlag.output.contains("healthy"))
        let byEnvironment = try runWithStatus(
            binary, ["healthcheck"], environment: ["PORT": "1", "AUTODIFFD_PORT": String(server.port)])
        #expect(byEnvironment.status == 0, "\(byEnvironment.output)")

        let unused = try freePort()
        let nobody = try runWithStatus(binary, ["healthcheck", "--port", String(unused)], environment: [:])
        #expect(nobody.status == 1)
        #expect(nobody.output.contains("unhealthy"))
    }

    @Test func openAPIDocumentIsServed() throws {
        let server = try ServerProcess()
        defer { _ = server.terminate() }
        let reply = try curl([server.baseURL + "/openapi.json"])
        #expect(reply.status == 200)
        let paths = ((reply.json as? [String: Any])?["paths"] as? [String: Any])?.keys.sorted() ?? []
        #expect(paths.contains("/v1/backward") && paths.contains("/openapi.json"))
    }
}

/// A TCP port nothing listens on at the moment of the call (bound to port 0, read back, closed).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ServerProcess.ServerError.didNotStart("socket: \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
        }
    }
    guard bound else { throw ServerProcess.ServerError.didNotStart("bind: \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs a program to completion; its exit status and standard output.
func runWithStatus(_ executable: String, _ arguments: [String], environment: [String: String]) throws
    -> (status: Int32, output: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let stdout = Pipe()
    process.standardOutput = stdout
    try process.run()
    let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
}
