import AutodiffCore
import Testing

@testable import AutodiffService

/// Every attribute of every op, set to values a careless or hostile client might send, through
/// forward, backward and hvp: each call must end in a result or a contract error, never a trap
/// (which would kill the server and every request in flight) and never `500 internal`.
@Suite struct HostileAttributeTests {
    static let hostile: [String] = [
        "9e15", "-9e15", "4611686018427387904", "1e308", "-1e308", "9007199254740992", "1e15", "-1e15", "0", "-1",
        "1000000000", "-1000000000", "2147483648", "1.5", "\"Infinity\"", "\"NaN\"", "\"-Infinity\"", "true",
        "\"none\"",
    ]

    /// Attributes each op needs so the hostile one is not the only thing wrong.
    static func baseline(for op: Op) -> [String: String] {
        var attrs: [String: String] = [:]
        switch op {
        case .reshape: attrs["shape"] = "[-1]"
        case .broadcastTo: attrs["shape"] = "[2,3]"
        case .unsqueeze: attrs["axes"] = "[0]"
        case .slice: attrs = ["starts": "[0]", "ends": "[1]"]
        case .sliceBackward: attrs = ["shape": "[4,3]", "starts": "[0]", "ends": "[2]"]
        default: break
        }
        return attrs
    }

    static func graph(_ op: Op, attrs: [String: String]) -> String {
        let args = Array(repeating: "\"x\"", count: op.arity.minimum).joined(separator: ",")
        let attrText = attrs.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        return #"{"inputs":["x"],"nodes":[{"id":"y","op":"\#(op.rawValue)","args":[\#(args)],"attrs":{\#(attrText)}},"#
            + #"{"id":"s","op":"sum","args":["y"]}]}"#
    }

    @Test(arguments: Op.allCases.filter { !$0.attributes.isEmpty })
    func hostileAttributeValuesEndInAContractAnswer(op: Op) async throws {
        try await withApp { client in
            for attribute in op.attributes {
                for value in Self.hostile {
                    let forms = [.ints, .indices].contains(attribute.kind) ? ["[\(value)]", "[0,\(value)]"] : [value]
                    for form in forms {
                        var attrs = Self.baseline(for: op)
                        attrs[attribute.name] = form
                        let graph = Self.graph(op, attrs: attrs)
                        let values = #""values":{"x":[[1,2,3],[4,5,6]]}"#
                        for (path, rest) in [
                            ("/v1/forward", #""outputs":["y"]"#), ("/v1/backward", #""outputs":["s"]"#),
                            ("/v1/hvp", #""output":"s","vectors":{"x":[[1,1,1],[1,1,1]]}"#),
                        ] {
                            let reply = try await client.post(path, Graphs.call(graph, values + "," + rest))
                            #expect(
                                reply.status.code < 500,
                                "\(op.rawValue).\(attribute.name)=\(form) \(path): \(reply.text)")
                        }
                    }
                }
            }
        }
    }

    /// A step of 2⁶² once overflowed `stride * step` in the slice kernel and killed the process; a step
    /// past the axis length picks the start alone.
    @Test func hugeSliceStepsPickTheStart() async throws {
        try await withApp { client in
            for value in ["4611686018427387904", "1e308", "\"Infinity\""] {
                let graph = Self.graph(.slice, attrs: ["starts": "[0]", "ends": "[1]", "steps": "[\(value)]"])
                let reply = try await client.post(
                    "/v1/forward", Graphs.call(graph, #""values":{"x":[[1,2,3],[4,5,6]]},"outputs":["y"]"#))
                #expect(reply.status.code == 200, "steps \(value): \(reply.text)")
                #expect(reply.text.contains(#"[[1.0,2.0,3.0]]"#), "steps \(value): \(reply.text)")
            }
        }
    }
}

extension Op.Arity {
    /// The fewest arguments the op takes.
    var minimum: Int {
        switch self {
        case .exactly(let n), .atLeast(let n): n
        }
    }
}
