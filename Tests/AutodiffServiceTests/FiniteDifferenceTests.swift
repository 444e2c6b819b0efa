import HummingbirdTesting
import Testing

@testable import AutodiffService

/// Every derivative endpoint against central finite differences of `/v1/forward`, on an MLP,
/// an attention-like softmax·matmul and a broadcasting graph.
@Suite struct FiniteDifferenceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let graph: String
        let inputs: [String: (shape: [Int], data: [Double])]
        /// A non-scalar node, and a one-element node built from it.
        let output: String
        let scalar: String

        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "MLP",
            graph: #"""
                {"inputs":["x","W","b"],"nodes":[
                  {"id":"h","op":"matmul","args":["x","W"]},{"id":"z","op":"add","args":["h","b"]},
                  {"id":"y","op":"tanh","args":["z"]},{"id":"q","op":"mul","args":["y","y"]},
                  {"id":"loss","op":"mean","args":["q"]}]}
                """#,
            inputs: [
                "x": ([2, 3], [0.5, -1, 2, 1.5, 0.25, -0.75]),
                "W": ([3, 2], [0.1, -0.3, 0.2, 0.4, -0.5, 0.6]),
                "b": ([2], [0.05, -0.1]),
            ], output: "y", scalar: "loss"),
        Case(
            name: "attention",
            graph: #"""
                {"inputs":["q","k","v"],"constants":{"scale":0.7},"nodes":[
                  {"id":"kt","op":"transpose","args":["k"]},{"id":"s","op":"matmul","args":["q","kt"]},
                  {"id":"ss","op":"mul","args":["s","scale"]},
                  {"id":"a","op":"softmax","args":["ss"],"attrs":{"axis":-1}},
                  {"id":"o","op":"matmul","args":["a","v"]},{"id":"e","op":"exp","args":["o"]},
                  {"id":"l","op":"logsumexp","args":["e"]}]}
                """#,
            inputs: [
                "q": ([2, 2], [0.3, -0.2, 0.8, 0.1]),
                "k": ([3, 2], [0.5, 0.4, -0.6, 0.2, 0.1, -0.9]),
                "v": ([3, 2], [1, 0.5, -0.5, 2, 0.25, -1]),
            ], output: "o", scalar: "l"),
        Case(
            name: "broadcasting",
            graph: #"""
                {"inputs":["x","r","c"],"nodes":[
                  {"id":"a","op":"mul","args":["x","r"]},{"id":"y","op":"add","args":["a","c"]},
                  {"id":"m","op":"sigmoid","args":["y"]},{"id":"p","op":"mul","args":["m","y"]},
                  {"id":"t","op":"sum","args":["p"]}]}
                """#,
            inputs: [
                "x": ([2, 3], [1, -2, 0.5, 0.3, 1.2, -0.7]), "r": ([3], [0.5, -1, 2]), "c": ([2, 1], [0.1, -0.4]),
            ],
            output: "y", scalar: "t"),
    ]

    static let h = 1e-6
    static let tolerance = 1e-6

    // MARK: Helpers

    static func valuesJSON(_ inputs: [String: (shape: [Int], data: [Double])]) -> String {
        let fields = inputs.sorted { $0.key < $1.key }.map { name, tensor in
            #""\#(name)":{"shape":\#(tensor.shape),"data":\#(tensor.data)}"#
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    func forward(
        _ c: Case, _ inputs: [String: (shape: [Int], data: [Double])], _ name: String,
        _ client: any TestClientProtocol
    ) async throws -> [Double] {
        let reply = try await client.post(
            "/v1/forward", #"{"graph":\#(c.graph),"values":\#(Self.valuesJSON(inputs)),"outputs":["\#(name)"]}"#)
        return try #require(reply.json["outputs"][name].doubles, "\(reply.text)")
    }

    /// `(f(x + h·d) − f(x − h·d)) / 2h` for the direction `d` over all inputs.
    func directional(
        _ c: Case, _ name: String, _ direction: [String: [Double]],
        _ client: any TestClientProtocol
    ) async throws -> [Double] {
        var plus = c.inputs
        var minus = c.inputs
        for (input, d) in direction {
            plus[input]?.data = zip(c.inputs[input]?.data ?? [], d).map { $0 + Self.h * $1 }
            minus[input]?.data = zip(c.inputs[input]?.data ?? [], d).map { $0 - Self.h * $1 }
        }
        let (up, down) = (try await forward(c, plus, name, client), try await forward(c, minus, name, client))
        return zip(up, down).map { ($0 - $1) / (2 * Self.h) }
    }

    /// A unit direction along element `index` of `input`.
    func unit(_ c: Case, _ input: String, _ index: Int) -> [String: [Double]] {
        var d = [Double](repeating: 0, count: c.inputs[input]?.data.count ?? 0)
        d[index] = 1
        return [input: d]
    }

    // MARK: Tests

    @Test(arguments: cases)
    func backwardMatchesFiniteDifferences(_ c: Case) async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/backward",
                #"{"graph":\#(c.graph),"values":\#(Self.valuesJSON(c.inputs)),"outputs":["\#(c.scalar)"]}"#)
            for (input, tensor) in c.inputs {
                let gradient = try #require(reply.json["gradients"][input].doubles, "\(reply.text)")
                var numeric: [Double] = []
                for index in tensor.data.indices {
                    numeric += try await directional(c, c.scalar, unit(c, input, index), client)
                }
                #expect(close(gradient, numeric, tolerance: Self.tolerance), "\(input): \(gradient) vs \(numeric)")
            }
        }
    }

    @Test(arguments: cases)
    func jacobianMatchesFiniteDifferences(_ c: Case) async throws {
        try await withApp { client in
            let reply = try await client.post(
                "/v1/jacobian",
                #"{"graph":\#(c.graph),"values":\#(Self.valuesJSON(c.inputs)),"outputs":["\#(c.output)"]}"#)
            for (input, tensor) in c.inputs {
                let jacobian = try #require(reply.json["jacobian"][c.output][input].doubles, "\(reply.text)")
                // Column `index` of J (layout output.shape + input.shape) is the derivative along that element.
                let outputCount = jacobian.count / tensor.data.count
                for index in tensor.data.indices {
                    let column = (0..<outputCount).map { jacobian[$0 * tensor.data.count + index] }
                    let numeric = try await directional(c, c.output, unit(c, input, index), client)
                    #expect(close(column, numeric, tolerance: Self.tolerance), "\(input)[\(index)]")
                }
            }
        }
    }

    @Test(arguments: cases)
    func jvpMatchesFiniteDifferences(_ c: Case) async throws {
        try await withApp { client in
            var tangents: [String: [Double]] = [:]
            for (input, tensor) in c.inputs {
                tangents[input] = tensor.data.indices.map { Double(($0 * 7 + input.count) % 5) / 4 - 0.5 }
            }
            let tangentJSON = Self.valuesJSON(
                tangents.reduce(into: [:]) { result, entry in
                    result[entry.key] = (c.inputs[entry.key]?.shape ?? [], entry.value)
                })
            let reply = try await client.post(
                "/v1/jvp",
                #"{"graph":\#(c.graph),"values":\#(Self.valuesJSON(c.inputs)),"#
                    + #""outputs":["\#(c.output)"],"tangents":\#(tangentJSON)}"#
            )
            let jvp = try #require(reply.json["tangents"][c.output].doubles, "\(reply.text)")
            let numeric = try await directional(c, c.output, tangents, client)
            #expect(close(jvp, numeric, tolerance: Self.tolerance), "\(jvp) vs \(numeric)")
        }
    }

    @Test(arguments: cases)
    func hvpMatchesFiniteDifferencesOfTheGradient(_ c: Case) async throws {
        try await withApp { client in
            var vectors: [String: [Double]] = [:]
            for (input, tensor) in c.inputs {
                vectors[input] = tensor.data.indices.map { Double(($0 * 3 + input.count) % 4) / 3 - 0.5 }
            }
            let vectorJSON = Self.valuesJSON(
                vectors.reduce(into: [:]) { result, entry in
                    result[entry.key] = (c.inputs[entry.key]?.shape ?? [], entry.value)
                })
            let reply = try await client.post(
                "/v1/hvp",
                #"{"graph":\#(c.graph),"values":\#(Self.valuesJSON(c.inputs)),"#
                    + #""output":"\#(c.scalar)","vectors":\#(vectorJSON)}"#
            )
            // d/dε ∇f(x + εv) at ε = 0 is H·v.
            func gradient(_ sign: Double) async throws -> [String: [Double]] {
                var moved = c.inputs
                for (input, v) in vectors {
                    moved[input]?.data = zip(c.inputs[input]?.data ?? [], v).map { $0 + sign * Self.h * $1 }
                }
                let reply = try await client.post(
                    "/v1/backward",
                    #"{"graph":\#(c.graph),"values":\#(Self.valuesJSON(moved)),"outputs":["\#(c.scalar)"]}"#)
                return c.inputs.keys.reduce(into: [:]) { $0[$1] = reply.json["gradients"][$1].doubles ?? [] }
            }
            let (up, down) = (try await gradient(1), try await gradient(-1))
            for input in c.inputs.keys {
                let hvp = try #require(reply.json["hvp"][input].doubles, "\(reply.text)")
                let numeric = zip(up[input] ?? [], down[input] ?? []).map { ($0 - $1) / (2 * Self.h) }
                #expect(close(hvp, numeric, tolerance: 1e-5), "\(input): \(hvp) vs \(numeric)")
            }
        }
    }
}
