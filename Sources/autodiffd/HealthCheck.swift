import AutodiffService
import Foundation

/// `autodiffd healthcheck [--host H] [--port N]`: exit 0 when the local server's `/healthz` answers
/// 200, else 1 (with one line saying why). The container's `HEALTHCHECK` runs it.
///
/// The port is found the way the server found it, so the check follows however it was configured:
/// the environment (`AUTODIFFD_PORT`, then `PORT`), overridden by the `--port`/`--host` flags of
/// the server's own command line when the server is PID 1 (a container's entrypoint), overridden by
/// this command's flags. A server bound to every address (`0.0.0.0`, `::`) is probed on loopback.
/// No curl needed: one HTTP/1.1 request over a socket, with 2 s send and receive timeouts.
enum HealthCheck {
    static func run(arguments: [String]) -> Int32 {
        let target: (host: String, port: Int)
        do {
            target = try resolve(
                arguments: arguments, environment: ProcessInfo.processInfo.environment,
                serverCommandLine: serverCommandLine())
        } catch {
            print("unhealthy: \(error)")
            return 1
        }
        let url = "http://\(target.host):\(target.port)/healthz"
        switch probe(host: target.host, port: target.port) {
        case .success(let status) where status == 200:
            print("healthy: \(url) answered 200")
            return 0
        case .success(let status):
            print("unhealthy: \(url) answered \(status)")
            return 1
        case .failure(let problem):
            print("unhealthy: \(url): \(problem.reason)")
            return 1
        }
    }

    /// The address to probe: the environment, then the server's flags, then ours.
    static func resolve(
        arguments: [String], environment: [String: String], serverCommandLine: [String]?
    ) throws -> (host: String, port: Int) {
        let configuration = try ServiceConfiguration(environment: environment)
        var host = configuration.host
        var port = configuration.port
        for flags in [serverCommandLine ?? [], arguments] {
            if let value = flag("host", in: flags) { host = value }
            if let value = flag("port", in: flags) {
                guard let number = Int(value), (1...65535).contains(number) else {
                    throw ConfigurationError(setting: "--port", value: value)
                }
                port = number
            }
        }
        switch host {
        case "0.0.0.0", "": host = "127.0.0.1"
        case "::", "[::]": host = "::1"
        default: break
        }
        return (host, port)
    }

    /// The value of `--name value` or `--name=value` (the last one wins, as for the server).
    static func flag(_ name: String, in arguments: [String]) -> String? {
        var value: String?
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--\(name)", index + 1 < arguments.endIndex {
                value = arguments[index + 1]
                index += 1
            } else if argument.hasPrefix("--\(name)=") {
                value = String(argument.dropFirst(name.count + 3))
            }
            index += 1
        }
        return value
    }

    /// PID 1's arguments when PID 1 is an `autodiffd` server (a container's entrypoint), else nil.
    static func serverCommandLine() -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/1/cmdline") else { return nil }
        let parts = data.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard let program = parts.first, program.split(separator: "/").last == "autodiffd",
            parts.dropFirst().first != "healthcheck"
        else { return nil }
        return Array(parts.dropFirst())
    }

    struct Failure: Error {
        let reason: String
    }

    /// The status code of `GET /healthz`.
    static func probe(host: String, port: Int) -> Result<Int, Failure> {
        var hints = addrinfo()
        #if os(Linux)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        let noSignal = Int32(MSG_NOSIGNAL)
        #else
        hints.ai_socktype = SOCK_STREAM
        let noSignal: Int32 = 0
        #endif
        var addresses: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &addresses) == 0, let first = addresses else {
            return .failure(Failure(reason: "cannot resolve \(host)"))
        }
        defer { freeaddrinfo(addresses) }

        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(Failure(reason: "socket: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return .failure(Failure(reason: "connect: \(String(cString: strerror(errno)))"))
        }
        let request = Array("GET /healthz HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, noSignal) == request.count else {
            return .failure(Failure(reason: "send: \(String(cString: strerror(errno)))"))
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while !reply.contains(UInt8(ascii: "\n")) && reply.count < 4096 {
            let received = recv(fd, &chunk, chunk.count, 0)
            guard received > 0 else { break }
            reply.append(contentsOf: chunk[..<received])
        }
        // "HTTP/1.1 200 OK"
        let statusLine = String(decoding: reply.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, fields[0].hasPrefix("HTTP/"), let status = Int(fields[1]) else {
            return .failure(Failure(reason: "no HTTP answer (\(reply.isEmpty ? "nothing" : statusLine))"))
        }
        return .success(status)
    }
}
