import Foundation
import Testing

/// Runs each program in `examples/` against a real server and compares what it prints with
/// `examples/expected/`, so the examples the README points to cannot rot.
@Suite(.serialized) struct ExamplesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func expected(_ name: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent("examples/expected/\(name)"), encoding: .utf8)
    }

    /// Line by line: equal text, or JSON lines with equal values (so `4` and `4.0` agree).
    static func same(_ output: String, _ expected: String) -> Bool {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let wanted = expected.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.count == wanted.count
            && zip(lines, wanted).allSatisfy { line, want in
                if line == want { return true }
                let parse = { (text: Substring) in
                    try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSObject
                }
                guard let a = parse(line), let b = parse(want) else { return false }
                return a.isEqual(b)
            }
    }

    @Test func curlExample() throws {
        let server = try ServerProcess()
        let script = Self.root.appendingPathComponent("examples/curl.sh").path
        let output = try run("/usr/bin/env", ["bash", script, server.baseURL])
        let expected = try Self.expected("curl.txt")
        #expect(Self.same(output, expected), "got:\n\(output)\nexpected:\n\(expected)")
        #expect(server.terminate() == 0)
    }

    @Test func pythonExample() throws {
        let server = try ServerProcess()
        let output = try run(
            "/usr/bin/env", ["python3", Self.root.appendingPathComponent("examples/fit_line.py").path, server.baseURL])
        #expect(output == (try Self.expected("fit_line.txt")))
        #expect(server.terminate() == 0)
    }

    @Test func swiftClientExample() throws {
        let server = try ServerProcess()
        // Next to the server binary, else next to this test bundle (when AUTODIFFD_BINARY points elsewhere).
        let candidates = [
            try ServerProcess.binary().deletingLastPathComponent(),
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent(),
        ].map { $0.appendingPathComponent("autodiffd-example-fit").path }
        let binary = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) })
        let output = try run(binary, [server.baseURL])
        // The Swift client and the Python script fit the same line through the same graph.
        #expect(output == (try Self.expected("fit_line.txt")))
        #expect(server.terminate() == 0)
    }
}
