import Foundation
import Testing

/// A result of many axes written as nested arrays (`[[[…[x]…]]]`) takes brackets and commas per
/// element and axis; the byte limit must count them, or a tiny call gets an answer several times
/// `--max-bytes` (a shape `[2000000, 1, …, 1]` of 64 axes was budgeted at 80 MB and wrote 302 MB).
@Suite(.serialized) struct NestedAnswerSizeTests {
    static let maxBytes = 100_000_000

    static func body(elements: Int, axes: Int) -> String {
        let shape = ([elements] + [Int](repeating: 1, count: axes - 1)).map(String.init).joined(separator: ",")
        return #"{"graph":{"inputs":["x"],"nodes":[{"id":"y","op":"broadcast_to","args":["x"],"#
            + #""attrs":{"shape":[\#(shape)]}}]},"values":{"x":-1.2345678901234567e-300},"outputs":["y"]}"#
    }

    @Test func anAnswerOfManyAxesIsRefusedWhenItsBracketsPassTheByteLimit() throws {
        let server = try ServerProcess(arguments: ["--workers", "2", "--max-bytes", "\(Self.maxBytes)"])
        let refused = try curlPost(server.baseURL + "/v1/forward", Self.body(elements: 2_000_000, axes: 64))
        #expect(refused.status == 413, "\(refused.status), \(refused.body.utf8.count) bytes")
        #expect(refused.errorCode == "limit_exceeded")
        // The same elements on one axis fit, and so does a smaller tensor of 64 axes; neither answer
        // is larger than the limit.
        for (elements, axes) in [(1_500_000, 1), (30_000, 64)] {
            let reply = try curlPost(server.baseURL + "/v1/forward", Self.body(elements: elements, axes: axes))
            #expect(reply.status == 200, "\(elements) × \(axes) axes: \(reply.body.prefix(200))")
            #expect(reply.body.utf8.count <= Self.maxBytes, "\(elements) × \(axes) axes")
            #expect(reply.body.hasPrefix(#"{"outputs":{"y":"# + String(repeating: "[", count: axes) + "-1.2345"))
        }
        #expect(server.terminate() == 0)
    }
}
