import Foundation
import Testing

/// `POST /v1/explain` on the real binary, checked with Graphviz's own `dot`.
@Suite(.serialized) struct ExplainTests {
    static let square =
        #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x","x"]},{"id":"s","op":"sum","args":["y"]}]}"#

    /// POSTs `body`, returning the status, Content-Type and body.
    func post(_ url: String, _ body: String) throws -> (status: Int, contentType: String, body: String) {
        let output = try run(
            "/usr/bin/env",
            ["curl", "-s", "-S", "--max-time", "60", "-w", "\n%{content_type}\n%{http_code}", "-X", "POST",
             "--data-binary", "@-", url],
            input: body)
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = lines.popLast().flatMap { Int($0) } ?? 0
        let contentType = lines.popLast().map(String.init) ?? ""
        return (status, contentType, lines.joined(separator: "\n"))
    }

    /// `dot -Tsvg` of `dot`: the SVG, or nil when Graphviz rejects the DOT.
    func renderWithGraphviz(_ dot: String) throws -> String? {
        let program = try start("/usr/bin/env", ["dot", "-Tsvg"], input: dot)
        let svg = program.finish()
        return program.process.terminationStatus == 0 ? svg : nil
    }

    @Test func dotShowsValuesSeedsAndGradientsAndGraphvizAcceptsIt() throws {
        let server = try ServerProcess()
        let reply = try post(
            server.baseURL + "/v1/explain",
            #"{"graph":\#(Self.square),"values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":"ones"}}"#)
        #expect(reply.status == 200)
        #expect(reply.contentType.hasPrefix("text/vnd.graphviz"))
        let dot = reply.body
        #expect(dot.hasPrefix("digraph autodiff {"))
        #expect(dot.contains(#"label="x\ninput [3]\n[1, 2, 3]""#))
        #expect(dot.contains(#"label="y = mul\n[3]\n[1, 4, 9]""#))
        #expect(dot.contains(#"label="seed for y\nones [3]""#))
        // ‖[2, 4, 6]‖ = √56
        #expect(dot.contains(#"label="∂/∂x\n[3]  ‖g‖ = 7.48331\n[2, 4, 6]""#))
        #expect(dot.contains("style=dashed, color=\"#dc2626\""))
        let svg = try #require(try renderWithGraphviz(dot), "dot -Tsvg rejected:\n\(dot)")
        #expect(svg.contains("<svg"))
        #expect(svg.contains("[2, 4, 6]"))

        // A larger tensor is summarised; a registered graph is explained by id too.
        let big = (1...10).map(String.init).joined(separator: ",")
        let summary = try post(
            server.baseURL + "/v1/explain", #"{"graph":\#(Self.square),"values":{"x":[\#(big)]},"outputs":["s"]}"#)
        #expect(summary.status == 200)
        #expect(summary.body.contains(#"min 1  max 10  mean 5.5"#))
        #expect(summary.body.contains(#"1 (implicit: one element)"#))
        #expect(try renderWithGraphviz(summary.body) != nil)
        #expect(server.terminate() == 0)
    }

    @Test func namesWithQuotesBackslashesAndNewlinesAreEscaped() throws {
        let server = try ServerProcess()
        // Names a careless writer would turn into broken or injected DOT.
        let names = [#"a\"b"#, #"c\\d"#, #"e\nf"#, #"\\N\\G"#, #"x\"]; evil [label=\"pwned"#]
        let inputs = names.map { "\"\($0)\"" }.joined(separator: ",")
        var nodes: [String] = []
        for (index, name) in names.enumerated() {
            nodes.append(#"{"id":"sq\#(index)\"\\","op":"square","args":["\#(name)"]}"#)
        }
        let total = #"{"id":"total","op":"add","args":["sq0\"\\","sq1\"\\"]}"#
        let values = names.map { "\"\($0)\":2" }.joined(separator: ",")
        let body =
            #"{"graph":{"inputs":[\#(inputs)],"nodes":[\#(nodes.joined(separator: ",")),\#(total)]},"#
            + #""values":{\#(values)},"outputs":["total"]}"#
        let reply = try post(server.baseURL + "/v1/explain", body)
        #expect(reply.status == 200, "\(reply.body)")
        let dot = reply.body
        #expect(dot.contains(#"a\"b"#))
        #expect(dot.contains(#"c\\d"#))
        #expect(dot.contains(#"e\nf"#))
        #expect(dot.contains(#"\\N\\G"#))
        let svg = try #require(try renderWithGraphviz(dot), "dot -Tsvg rejected:\n\(dot)")
        #expect(!svg.contains("<title>evil</title>"))
        #expect(svg.contains("pwned"))  // shown as text of the label, not as a node of its own
        #expect(svg.contains("c\\d"))
        #expect(server.terminate() == 0)
    }

    @Test func svgErrorsAndTheMissingRenderer() throws {
        let server = try ServerProcess()
        let body = #"{"graph":\#(Self.square),"values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":[1,0,0]}}"#
        let svg = try post(server.baseURL + "/v1/explain?format=svg", body)
        #expect(svg.status == 200)
        #expect(svg.contentType == "image/svg+xml")
        #expect(svg.body.contains("<svg"))
        #expect(svg.body.contains("[2, 0, 0]"))

        let png = try post(server.baseURL + "/v1/explain?format=png", body)
        #expect(png.status == 400)
        #expect(png.body.contains("\"invalid_request\""))
        let unseeded = try post(
            server.baseURL + "/v1/explain", #"{"graph":\#(Self.square),"values":{"x":[1,2,3]},"outputs":["y"]}"#)
        #expect(unseeded.status == 422)
        #expect(unseeded.body.contains(#""code":"seed_required""#))
        #expect(unseeded.body.contains(#""node":"y""#))
        #expect(try curl([server.baseURL + "/v1/explain"]).status == 405)
        #expect(server.terminate() == 0)

        // Without Graphviz on PATH the SVG is refused with a message naming the tool; DOT still works.
        let bare = try ServerProcess(environment: ["PATH": "/nonexistent"])
        let missing = try post(bare.baseURL + "/v1/explain?format=svg", body)
        #expect(missing.status == 501)
        #expect(missing.body.contains(#""code":"renderer_unavailable""#))
        #expect(missing.body.contains("Graphviz's dot"))
        #expect(try post(bare.baseURL + "/v1/explain", body).status == 200)
        #expect(bare.terminate() == 0)
    }
}
