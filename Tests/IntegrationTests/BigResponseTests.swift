import Foundation
import Testing

/// Answers bigger than one response buffer (32 MiB, `JSONWriter.pieceCapacity`) are written in
/// several and sent one after the other: over HTTP the client sees one body, exactly as long as its
/// `Content-Length` says, with the same text a single buffer would hold.
@Suite struct BigResponseTests {
    /// Four values, three of them with texts as long as a float64's get (24 characters).
    static let pattern: [Double] = [-1.2345678901234567e-300, 2.2250738585072014e-308, -9.876543210987654e+299, 0.1]

    /// A forward call whose output `y` is `pattern` repeated `rows` times (`broadcast_to [rows, 4]`).
    static func body(rows: Int, encoding: String) -> String {
        let node = #"{"id":"y","op":"broadcast_to","args":["x"],"attrs":{"shape":[\#(rows),4]}}"#
        let graph = #"{"inputs":["x"],"nodes":[\#(node)]}"#
        let x = "[" + pattern.map(\.description).joined(separator: ",") + "]"
        return #"{"graph":\#(graph),"values":{"x":\#(x)},"outputs":["y"],"options":{"encoding":"\#(encoding)"}}"#
    }

    /// Posts `body` and returns the response body and its `Content-Length`.
    static func post(_ server: ServerProcess, _ body: String) throws -> (status: Int, body: String, length: Int?) {
        let reply = try curl(
            ["-i", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@-",
             server.baseURL + "/v1/forward"],
            input: body)
        guard let split = reply.body.range(of: "\r\n\r\n") else { return (reply.status, reply.body, nil) }
        let head = reply.body[..<split.lowerBound].lowercased()
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
        return (reply.status, String(reply.body[split.upperBound...]), length)
    }

    @Test func aDecimalAnswerOfMoreThanOneBufferArrivesWhole() throws {
        let server = try ServerProcess()
        let rows = 500_000  // 2 M numbers, most of 23 or 24 characters: 40 MB
        let reply = try Self.post(server, Self.body(rows: rows, encoding: "flat"))
        let row = Self.pattern.map(\.description).joined(separator: ",")
        let data = Array(repeating: row, count: rows).joined(separator: ",")
        let expected = #"{"outputs":{"y":{"shape":[\#(rows),4],"data":[\#(data)]}}}"#
        #expect(reply.status == 200)
        #expect(reply.length == expected.utf8.count)
        #expect(reply.body.utf8.count == expected.utf8.count)
        #expect(reply.body == expected)
        #expect(server.terminate() == 0)
    }

    @Test func aBase64AnswerOfMoreThanOneBufferArrivesWhole() throws {
        let server = try ServerProcess()
        let rows = 1_100_000  // 4.4 M float64s: 35 MB, 47 MB of base64
        let reply = try Self.post(server, Self.body(rows: rows, encoding: "base64"))
        var bytes = Data()
        for x in Self.pattern { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        let all = Array(repeating: bytes, count: rows).reduce(into: Data()) { $0 += $1 }
        let y = #"{"shape":[\#(rows),4],"dtype":"float64","base64":"\#(all.base64EncodedString())"}"#
        let expected = #"{"outputs":{"y":\#(y)}}"#
        #expect(reply.status == 200)
        #expect(reply.length == expected.utf8.count)
        #expect(reply.body.utf8.count == expected.utf8.count)
        #expect(reply.body == expected)
        #expect(server.terminate() == 0)
    }
}
