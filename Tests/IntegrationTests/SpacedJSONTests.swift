import Foundation
import Testing

/// Long arrays of numbers written with a space after each comma, as Python's `json.dumps` writes
/// them by default, against the real binary. The parser's fast loop reads `1,2,3` in a row and
/// comes back after every number of `1, 2, 3`; it then searched the rest of the array for its `]`
/// each time, so reading such an array took time quadratic in its length (a 1.5 MB body 5 s, a
/// 5 MB one minutes, past any deadline: the parse does not look at it).
@Suite(.serialized) struct SpacedJSONTests {
    static let graph = #"{"inputs":["x"],"nodes":[{"id":"t","op":"sum","args":["x"]}]}"#

    /// `count` numbers 0.5, separated by `separator`, as the flat form's data.
    static func body(count: Int, separator: (Int) -> String, closed: Bool = true) -> String {
        var data = ""
        data.reserveCapacity(count * 6)
        for index in 0..<count {
            if index > 0 { data += separator(index) }
            data += "0.5"
        }
        return #"{"graph":\#(graph),"values":{"x":{"shape":[\#(count)],"data":["#
            + data + (closed ? #"]}},"outputs":["t"]}"# : "")
    }

    static func sum(_ reply: CurlReply) -> Double? {
        (((reply.json as? [String: Any])?["outputs"] as? [String: Any])?["t"] as? NSNumber)?.doubleValue
    }

    @Test(arguments: ["comma-space", "pairs", "space-comma"])
    func aLongSpacedArrayIsReadInLinearTime(style: String) throws {
        let server = try ServerProcess(arguments: ["--workers", "2", "--request-timeout", "20"])
        let count = 1_000_000
        let separator: (Int) -> String =
            switch style {
            case "comma-space": { _ in ", " }
            case "pairs": { $0 % 2 == 0 ? ", " : "," }
            default: { _ in " ," }
            }
        let reply = try curlPost(server.baseURL + "/v1/forward", Self.body(count: count, separator: separator))
        #expect(reply.status == 200, "\(reply.status): \(reply.body.prefix(300))")
        #expect(Self.sum(reply) == 0.5 * Double(count))
        #expect(try curlPost(server.baseURL + "/v1/forward", ReliabilityTests.small).status == 200)
        #expect(server.terminate() == 0)
    }

    @Test func aLongSpacedArrayWithoutItsBracketIsRefusedAtOnce() throws {
        let server = try ServerProcess(arguments: ["--workers", "2", "--request-timeout", "20"])
        let reply = try curlPost(
            server.baseURL + "/v1/forward", Self.body(count: 1_000_000, separator: { _ in ", " }, closed: false))
        #expect(reply.status == 400, "\(reply.status): \(reply.body.prefix(300))")
        #expect(reply.errorCode == "invalid_json")
        #expect(server.terminate() == 0)
    }
}
