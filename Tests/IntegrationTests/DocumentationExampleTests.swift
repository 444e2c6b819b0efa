import Foundation
import Testing

/// Runs every `curl` example of README.md and docs/API.md against the real binary, so the
/// documentation cannot drift from the service.
///
/// An example is a ```` ```sh ```` block whose command starts with `curl`; `localhost:8080` is
/// replaced by the test server's address. When a ```` ```json ```` block follows it directly, the
/// reply must match it: same keys, same array lengths, numbers equal to 1e-9 relative, strings
/// equal, except that a string ending in `…` matches any string with that prefix and an array whose
/// last element is `"…"` matches any array that starts with the elements before it.
@Suite(.serialized) struct DocumentationExampleTests {
    struct Example: CustomTestStringConvertible, Sendable {
        let file: String
        let line: Int
        let command: String
        let expected: String?

        var testDescription: String { "\(file):\(line)" }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func examples() -> [Example] {
        ["README.md", "docs/API.md"].flatMap { file -> [Example] in
            guard let text = try? String(contentsOf: root.appendingPathComponent(file), encoding: .utf8) else {
                return []
            }
            return parse(text, file: file)
        }
    }

    /// Fenced blocks in order, with the line each starts on.
    static func parse(_ markdown: String, file: String) -> [Example] {
        var blocks: [(language: String, line: Int, body: String)] = []
        var current: (language: String, line: Int, lines: [String])?
        var gapSinceLastBlock = false
        var adjacency: [Bool] = []
        for (number, line) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("```") {
                if let open = current {
                    blocks.append((open.language, open.line, open.lines.joined(separator: "\n")))
                    current = nil
                    gapSinceLastBlock = false
                } else {
                    adjacency.append(!gapSinceLastBlock)
                    current = (String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces), number + 1, [])
                }
            } else if current != nil {
                current?.lines.append(String(line))
            } else if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                gapSinceLastBlock = true
            }
        }
        var examples: [Example] = []
        for (index, block) in blocks.enumerated()
        where block.language == "sh" && block.body.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("curl") {
            let next =
                index + 1 < blocks.count && adjacency[index + 1] && blocks[index + 1].language == "json"
                ? blocks[index + 1].body : nil
            examples.append(Example(file: file, line: block.line, command: block.body, expected: next))
        }
        return examples
    }

    @Test func documentationHasExamplesForEveryEndpoint() {
        let commands = Self.examples().map(\.command).joined(separator: "\n")
        for path in [
            "/healthz", "/readyz", "/v1/forward", "/v1/backward", "/v1/jacobian", "/v1/jvp", "/v1/hvp",
            "/v1/graphs", "/v1/ops", "/metrics", "\"batched\"", "\"return_graph\"", "graph_id",
        ] {
            #expect(commands.contains(path), "no example uses \(path)")
        }
    }

    @Test func everyExampleAnswersAsDocumented() throws {
        // The reference shows a two-worker pool in its /readyz example.
        let server = try ServerProcess(arguments: ["--workers", "2"])
        defer { _ = server.terminate() }
        let examples = Self.examples()
        #expect(examples.count >= 10)
        for example in examples {
            let command = example.command.replacingOccurrences(of: "localhost:8080", with: "127.0.0.1:\(server.port)")
            let output = try run("/bin/bash", ["-c", command])
            guard let expectedText = example.expected else {
                #expect(!output.isEmpty, "\(example.testDescription) printed nothing")
                continue
            }
            let actual = try? JSONSerialization.jsonObject(with: Data(output.utf8), options: [.fragmentsAllowed])
            let expected = try? JSONSerialization.jsonObject(
                with: Data(expectedText.utf8), options: [.fragmentsAllowed])
            #expect(expected != nil, "\(example.testDescription): the documented reply is not JSON")
            let mismatch = Self.mismatch(actual, expected, path: "$")
            #expect(mismatch == nil, "\(example.testDescription): \(mismatch ?? "") — got \(output)")
        }
    }

    /// Where `actual` departs from `expected`, or nil when it matches.
    static func mismatch(_ actual: Any?, _ expected: Any?, path: String) -> String? {
        switch expected {
        case let object as [String: Any]:
            guard let actualObject = actual as? [String: Any] else { return "\(path) is not an object" }
            guard Set(object.keys) == Set(actualObject.keys) else {
                return "\(path) has keys \(actualObject.keys.sorted()), documented \(object.keys.sorted())"
            }
            for key in object.keys.sorted() {
                if let found = mismatch(actualObject[key], object[key], path: "\(path).\(key)") { return found }
            }
            return nil
        case let array as [Any]:
            guard let actualArray = actual as? [Any] else { return "\(path) is not an array" }
            let open = (array.last as? String) == "…"
            let prefix = open ? Array(array.dropLast()) : array
            guard open ? actualArray.count >= prefix.count : actualArray.count == prefix.count else {
                return "\(path) has \(actualArray.count) elements, documented \(array.count)"
            }
            for (index, item) in prefix.enumerated() {
                if let found = mismatch(actualArray[index], item, path: "\(path)[\(index)]") { return found }
            }
            return nil
        case let string as String:
            guard let actualString = actual as? String else { return "\(path) is not a string" }
            if string.hasSuffix("…") {
                return actualString.hasPrefix(String(string.dropLast())) ? nil : "\(path) is \"\(actualString)\""
            }
            return actualString == string ? nil : "\(path) is \"\(actualString)\", documented \"\(string)\""
        case let number as NSNumber:
            guard let actualNumber = actual as? NSNumber else { return "\(path) is not a number" }
            let (a, e) = (actualNumber.doubleValue, number.doubleValue)
            return abs(a - e) <= 1e-9 * max(1, abs(e)) ? nil : "\(path) is \(a), documented \(e)"
        case is NSNull:
            return actual is NSNull ? nil : "\(path) is not null"
        default:
            return "\(path): unsupported documented value"
        }
    }
}
