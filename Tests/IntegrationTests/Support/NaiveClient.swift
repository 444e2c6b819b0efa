import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTTP/1.1 client that writes the whole request before reading anything and asks for
/// `Connection: close`, as Python's urllib does. Send and receive time out after 30 s, so a server
/// that stops reading makes the test fail instead of hang.
enum NaiveClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The status code of the response to `POST path` with `body` on `127.0.0.1:port`.
    static func post(port: Int, path: String, body: [UInt8], headers: [String] = []) throws -> Int {
        let fd = try connectedSocket(port: port, timeouts: [SO_SNDTIMEO: 30, SO_RCVTIMEO: 30])
        defer { close(fd) }

        let head =
            (["POST \(path) HTTP/1.1", "Host: 127.0.0.1", "Content-Length: \(body.count)", "Connection: close"]
            + headers)
            .joined(separator: "\r\n") + "\r\n\r\n"
        for part in [Array(head.utf8), body] {
            var sent = 0
            while sent < part.count {
                let n = part[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw Failure(description: "send failed after \(sent) bytes: errno \(errno)") }
                sent += n
            }
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !reply.contains(UInt8(ascii: "\n")) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure(description: "no response: errno \(errno)") }
            reply += buffer[..<n]
        }
        let statusLine = String(decoding: reply.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        guard let code = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw Failure(description: "unexpected status line \(statusLine)")
        }
        return code
    }

    /// A TCP socket connected to `127.0.0.1:port`, with each socket option of `timeouts` (such as
    /// `SO_RCVTIMEO`) set to that many seconds, and a receive buffer of `receiveBuffer` bytes if given.
    static func connectedSocket(port: Int, timeouts: [Int32: Int], receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        if var bytes = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, socklen_t(MemoryLayout<Int32>.size))
        }
        for (option, seconds) in timeouts {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect failed")
        }
        return fd
    }
}

/// A request left open on its own connection: its head (and the start of its body) sent, the rest never.
/// A slow uploader, as far as the server can tell.
final class OpenRequest {
    private let fd: Int32

    /// Sends the head of `POST path` declaring `declaredLength` body bytes, then `firstBytes` of it.
    /// With `expectContinue`, waits for the server's `100 Continue` before sending any of the body.
    init(port: Int, path: String, declaredLength: Int, firstBytes: [UInt8], expectContinue: Bool) throws {
        fd = try NaiveClient.connectedSocket(port: port, timeouts: [SO_RCVTIMEO: 60])
        var head = ["POST \(path) HTTP/1.1", "Host: 127.0.0.1", "Content-Length: \(declaredLength)"]
        if expectContinue { head.append("Expect: 100-continue") }
        try transmit(Array((head.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        if expectContinue {
            let interim = try readHead()
            guard interim.hasPrefix("HTTP/1.1 100") else {
                throw NaiveClient.Failure(description: "expected 100 Continue, got \(interim)")
            }
        }
        try transmit(firstBytes)
    }

    deinit { close(fd) }

    func transmit(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw NaiveClient.Failure(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    /// Reads up to the end of one response head and returns it.
    func readHead() throws -> String {
        var reply: [UInt8] = []
        var byte: UInt8 = 0
        while !reply.ends(with: Array("\r\n\r\n".utf8)) {
            guard recv(fd, &byte, 1, 0) == 1 else {
                throw NaiveClient.Failure(description: "no response: errno \(errno)")
            }
            reply.append(byte)
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// The status code of the (final) response.
    func status() throws -> Int {
        let head = try readHead()
        return head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    }
}

extension Array where Element: Equatable {
    func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
