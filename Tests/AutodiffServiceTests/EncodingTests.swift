import Foundation
import Testing

@testable import AutodiffService

/// Every tensor form of the contract, in requests and in responses.
@Suite struct EncodingTests {
    /// The identity-like graph `y = x * 1`, which returns its input unchanged.
    static let echo = #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x",1]}]}"#

    func echo(_ value: String, encoding: String = "flat") async throws -> Reply {
        try await withApp { client in
            try await client.post(
                "/v1/forward",
                Graphs.call(
                    Self.echo, #""values":{"x":\#(value)},"outputs":["y"],"options":{"encoding":"\#(encoding)"}"#))
        }
    }

    static func base64(_ values: [Double]) -> String {
        var data = Data()
        for x in values { withUnsafeBytes(of: x.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data.base64EncodedString()
    }

    // MARK: In

    @Test(
        arguments: [
            ("3.5", [Int](), [3.5]),
            ("[[1,2],[3,4]]", [2, 2], [1, 2, 3, 4]),
            (#"{"shape":[2,2],"data":[1,2,3,4]}"#, [2, 2], [1, 2, 3, 4]),
            (#"{"shape":[3],"dtype":"float64","base64":"\#(base64([1, -2.5, 1e-300]))"}"#, [3], [1, -2.5, 1e-300]),
            (#"{"shape":[],"data":[7]}"#, [], [7]),
            ("[]", [0], []),
            (#"{"shape":[0,3],"data":[]}"#, [0, 3], []),
            (#"[["NaN","Infinity"],["-Infinity",0]]"#, [2, 2], [.nan, .infinity, -.infinity, 0]),
            (#""-Infinity""#, [], [-.infinity]),
            (#"{"shape":[2],"data":["NaN",1]}"#, [2], [.nan, 1]),
        ] as [(String, [Int], [Double])])
    func everyInputFormIsRead(value: String, shape: [Int], data: [Double]) async throws {
        let reply = try await echo(value)
        #expect(reply.status == .ok, "\(reply.text)")
        #expect(reply.json["outputs"]["y"]["shape"].value as? [Int] == shape)
        #expect(close(reply.json["outputs"]["y"]["data"].doubles, data))
    }

    // MARK: Out

    @Test func nestedIsTheDefault() async throws {
        let reply = try await withApp { client in
            try await client.post(
                "/v1/forward", Graphs.call(Self.echo, #""values":{"x":[[1,2,3],[4,5,6]]},"outputs":["y"]"#))
        }
        #expect(reply.json["outputs"]["y"].shape == [2, 3])
        #expect(reply.json["outputs"]["y"].doubles == [1, 2, 3, 4, 5, 6])
    }

    @Test func nestedKeepsScalarsAndEmptyDimensions() async throws {
        let scalar = try await echo("2.5", encoding: "nested")
        #expect(scalar.json["outputs"]["y"].double == 2.5)
        let empty = try await echo(#"{"shape":[2,0],"data":[]}"#, encoding: "nested")
        #expect(empty.text.contains(#""y":[[],[]]"#))
    }

    @Test func base64RoundTripsEveryBit() async throws {
        let values: [Double] = [0.1, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .nan, .infinity, 1 / 3]
        let reply = try await echo(
            #"{"shape":[7],"dtype":"float64","base64":"\#(Self.base64(values))"}"#, encoding: "base64")
        let y = reply.json["outputs"]["y"]
        #expect(y["dtype"].string == "float64")
        #expect(y["shape"].value as? [Int] == [7])
        let decoded = try #require(Data(base64Encoded: y["base64"].string ?? ""))
        let bits = stride(from: 0, to: decoded.count, by: 8).map { offset in
            decoded[offset..<(offset + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        #expect(bits == values.map { ($0 * 1).bitPattern })
    }

    @Test func numbersRoundTripExactlyInText() async throws {
        let values: [Double] = [
            0.1, 1.0 / 3, Double.leastNormalMagnitude / 3, 1.7976931348623157e308, 123456789.123456789, -0.0,
        ]
        let reply = try await echo("[" + values.map { "\($0)" }.joined(separator: ",") + "]")
        let text = try #require(reply.json["outputs"]["y"]["data"].doubles)
        #expect(text.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func nonFiniteResultsAreStrings() async throws {
        let reply = try await withApp { client in
            try await client.post(
                "/v1/forward",
                #"{"graph":{"inputs":["x"],"nodes":[{"id":"y","op":"div","args":["x",0]}]},"#
                    + #""values":{"x":[1,-1,0]},"outputs":["y"]}"#)
        }
        #expect(reply.text.contains(#"["Infinity","-Infinity","NaN"]"#))
    }

    @Test func constantsAndAttributesAcceptEveryForm() async throws {
        let graph = #"""
            {"inputs":["x"],
             "constants":{"w":{"shape":[2],"data":[2,3]},"c":[[1],[2]],"k":"Infinity"},
             "nodes":[{"id":"a","op":"mul","args":["x","w"]},
                      {"id":"b","op":"add","args":["a","c"]},
                      {"id":"y","op":"clamp","args":["b"],"attrs":{"min":"-Infinity","max":7}}]}
            """#
        let reply = try await withApp { client in
            try await client.post("/v1/forward", Graphs.call(graph, #""values":{"x":[1,1]},"outputs":["y"]"#))
        }
        #expect(reply.status == .ok, "\(reply.text)")
        #expect(reply.json["outputs"]["y"].doubles == [3, 4, 4, 5])
    }
}
