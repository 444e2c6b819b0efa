import Testing

@testable import AutodiffService

/// Whatever a client sends, the answer is a contract response and never `500 internal`.
///
/// Valid requests for every endpoint are mutated at random (seeded, so failures reproduce): bytes
/// deleted, truncated, duplicated, and values swapped for other JSON values or hostile numbers.
@Suite struct RobustnessTests {
    static let requests: [(path: String, body: String)] = [
        (
            "/v1/backward",
            Graphs.call(
                Graphs.mlp,
                #"""
                "values":{"x":[[1,2,3]],"W":{"shape":[3,2],"data":[0.1,-0.2,0.3,0.4,-0.5,0.6]},"b":[0.1,-0.1]},
                "outputs":["loss","y"],"seeds":{"y":[[1,0]]},"wrt":["W","b"],
                "options":{"encoding":"flat","unconnected":"zero","batched":false,"return_graph":true}
                """#)
        ),
        (
            "/v1/backward",
            Graphs.call(
                Graphs.square,
                #""values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":[[1,0,0],[0,1,0]]},"options":{"batched":true}"#)
        ),
        (
            "/v1/forward",
            Graphs.call(
                #"""
                {"inputs":["x"],"nodes":[
                  {"id":"y","op":"slice","args":["x"],"attrs":{"starts":[0,1],"ends":[2,3],"axes":[0,1],"steps":[1,1]}},
                  {"id":"z","op":"reshape","args":["y"],"attrs":{"shape":[-1]}},
                  {"id":"w","op":"concat","args":["z","z"],"attrs":{"axis":0}}]}
                """#,
                #""values":{"x":[[1,2,3],[4,5,6]]},"outputs":["w"]"#)
        ),
        (
            "/v1/jacobian",
            Graphs.call(
                #"""
                {"inputs":["x"],"nodes":[
                  {"id":"p","op":"softmax","args":["x"],"attrs":{"axis":-1}},
                  {"id":"t","op":"transpose","args":["p"]},{"id":"m","op":"matmul","args":["p","t"]}]}
                """#,
                #""values":{"x":[[0,1],[2,3]]},"outputs":["m","p"],"wrt":["x"]"#)
        ),
        (
            "/v1/jvp",
            Graphs.call(
                Graphs.mlp,
                #""values":{"x":[[1,2,3]],"W":[[1,2],[3,4],[5,6]],"b":[0,0]},"outputs":["loss"],"#
                    + #""tangents":{"W":[[1,0],[0,1],[0,0]]}"#
            )
        ),
        (
            "/v1/hvp",
            Graphs.call(
                Graphs.cubeSum,
                #""values":{"x":{"shape":[3],"dtype":"float64","base64":"AAAAAAAA8D8AAAAAAAAAQAAAAAAAAAhA"}},"#
                    + #""output":"s","vectors":{"x":[1,0,0]},"wrt":["x"]"#
            )
        ),
        ("/v1/graphs", #"{"graph":\#(Graphs.mlp)}"#),
    ]

    static let replacements = [
        "null", "true", "[]", "{}", "\"\"", "\"NaN\"", "\"-Infinity\"", "1e308", "-1", "0", "1.5", "4294967296",
        "9007199254740993", "[[[]]]", "{\"shape\":[-1],\"data\":[]}", "{\"shape\":[1e15],\"data\":[]}",
        "{\"shape\":[2],\"base64\":\"!!\"}", "\"ones\"", "[1,[2]]", "\"x\"", "\"y\"", "\"seed:y\"", "[\"x\",\"x\"]",
        "{\"axes\":[99]}", "{\"shape\":[100000,100000]}", "{\"perm\":[0,0]}", "{\"steps\":[0]}", "-0", "1e-320",
    ]

    @Test func mutatedRequestsNeverProduceAnInternalError() async throws {
        try await withApp { client in
            var random = SplitMix64(seed: 0x5EED)
            var statuses: [Int: Int] = [:]
            for (path, body) in Self.requests {
                let original = try await client.post(path, body)
                #expect(original.status.code < 300, "\(path): \(original.text)")
                for _ in 0..<150 {
                    let mutated = Self.mutate(body, using: &random)
                    let reply = try await client.post(path, mutated)
                    statuses[reply.status.code, default: 0] += 1
                    #expect(reply.status != .internalServerError, "\(path) \(mutated) → \(reply.text)")
                    if reply.status.code >= 400 {
                        #expect(reply.errorCode != nil, "\(path) \(mutated) → \(reply.text)")
                    }
                }
            }
            // The mutations must reach past the parser, or this test would prove little.
            #expect(statuses[200, default: 0] + statuses[201, default: 0] > 0)
            #expect(statuses[422, default: 0] > 0)
            #expect(statuses[400, default: 0] > 0)
        }
    }

    static func mutate(_ body: String, using random: inout SplitMix64) -> String {
        var chars = Array(body)
        let position = Int(random.next() % UInt64(chars.count))
        switch random.next() % 5 {
        case 0:
            chars.removeSubrange(position..<min(chars.count, position + 1 + Int(random.next() % 8)))
        case 1:
            chars = Array(chars[..<position])
        case 2:
            let end = min(chars.count, position + Int(random.next() % 16))
            chars.insert(contentsOf: chars[position..<end], at: end)
        default:
            // Replace one value (a number, string, array or object starting here) with another.
            guard let start = chars[position...].firstIndex(where: { "[{\"-0123456789".contains($0) }) else { break }
            let end = valueEnd(chars, from: start)
            let replacement = replacements[Int(random.next() % UInt64(replacements.count))]
            chars.replaceSubrange(start..<end, with: replacement)
        }
        return String(chars)
    }

    /// The end of the JSON value starting at `start` (brackets and strings balanced, roughly).
    static func valueEnd(_ chars: [Character], from start: Int) -> Int {
        var depth = 0
        var inString = false
        var index = start
        while index < chars.count {
            let c = chars[index]
            if inString {
                if c == "\\" {
                    index += 1
                } else if c == "\"" {
                    inString = false
                    if depth == 0 { return index + 1 }
                }
            } else if c == "\"" {
                inString = true
            } else if c == "[" || c == "{" {
                depth += 1
            } else if c == "]" || c == "}" {
                depth -= 1
                if depth <= 0 { return index + 1 }
            } else if depth == 0 && (c == "," || c == ":") {
                return index
            }
            index += 1
        }
        return chars.count
    }
}

/// A small seeded generator so mutated requests reproduce.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
