import AutodiffCore
import Foundation

/// `POST /v1/explain`: a backward call drawn as Graphviz DOT.
///
/// The forward graph runs left to right (inputs blue, constants grey, ops white, outputs with a double
/// border), each node labelled with its op, shape and a value summary. The backward flow is drawn in dashed
/// red, right to left: each seed (right of its output) enters its output, every edge that carries gradient
/// is traced back, and each `wrt` input hands on to a red box on its left with its gradient (norm, and the
/// values when there are at most six).
///
/// Names come from the client, so they never become DOT identifiers (nodes are `v0`, `v1`, …) and are
/// escaped wherever they appear in a label.
struct ExplainDOT {
    let spec: GraphSpec
    /// Every input, constant and node's value.
    let values: [String: Tensor]
    let outputs: [String]
    let seeds: [String: Seed]
    let result: BackwardResult
    let wrt: [String]

    /// Values with at most this many elements are printed in full, larger ones as min/max/mean.
    static let fullValues = 6

    func render() -> String {
        var ids: [String: String] = [:]
        for name in spec.inputs + spec.constants.keys.sorted() + spec.nodes.map(\.id) where ids[name] == nil {
            ids[name] = "v\(ids.count)"
        }
        var lines = [
            "digraph autodiff {",
            "  rankdir=LR;",
            #"  node [fontname="Helvetica", fontsize=10];"#,
            #"  edge [fontname="Helvetica", fontsize=9];"#,
        ]
        let outputSet = Set(outputs)
        let peripheries = { (name: String) in outputSet.contains(name) ? ", peripheries=2" : "" }

        for name in spec.inputs {
            let label = [Self.escape(name), "input " + shapeText(name), summary(values[name])]
            lines.append(
                "  \(ids[name] ?? "") [shape=box, style=filled, fillcolor=\"#dbeafe\"\(peripheries(name)), "
                    + "label=\(Self.label(label))];")
        }
        for name in spec.constants.keys.sorted() {
            let label = [Self.escape(name), "constant " + shapeText(name), summary(values[name])]
            lines.append(
                "  \(ids[name] ?? "") [shape=box, style=filled, fillcolor=\"#e5e7eb\"\(peripheries(name)), "
                    + "label=\(Self.label(label))];")
        }
        var literals = 0
        for node in spec.nodes {
            let id = ids[node.id] ?? ""
            let label = [
                Self.escape(node.id) + " = " + Self.escape(node.op), shapeText(node.id), summary(values[node.id]),
            ]
            lines.append("  \(id) [shape=ellipse\(peripheries(node.id)), label=\(Self.label(label))];")
            for (position, argument) in node.args.enumerated() {
                let from: String
                switch argument {
                case .name(let name):
                    from = ids[name] ?? ""
                case .number(let x):
                    literals += 1
                    from = "lit\(literals)"
                    lines.append("  \(from) [shape=plaintext, label=\"\(Self.number(x))\"];")
                }
                let tail = node.args.count > 1 ? " [label=\"\(position)\"]" : ""
                lines.append("  \(from) -> \(id)\(tail);")
            }
        }

        // Backward: seeds into outputs, gradient-carrying edges reversed, gradients out of inputs.
        for (index, output) in outputs.enumerated() {
            guard let id = ids[output] else { continue }
            let seed = seedText(output)
            lines.append(
                "  seed\(index) [shape=note, color=\"#dc2626\", fontcolor=\"#dc2626\", "
                    + "label=\(Self.label(["seed for " + Self.escape(output)] + seed))];")
            // Drawn from the output with the arrow reversed, so the seed sits right of its output.
            lines.append("  \(id) -> seed\(index) [dir=back, style=dashed, color=\"#dc2626\"];")
        }
        for (from, to) in gradientEdges() {
            guard let fromID = ids[from], let toID = ids[to] else { continue }
            lines.append("  \(toID) -> \(fromID) [style=dashed, color=\"#dc2626\", constraint=false];")
        }
        let unconnected = Set(result.unconnected)
        for (index, input) in wrt.enumerated() {
            guard let id = ids[input] else { continue }
            var label = ["∂/∂" + Self.escape(input)]
            if let gradient = result.gradients[input] {
                label.append(Self.shape(gradient.shape) + "  ‖g‖ = " + Self.number(norm(gradient)))
                if gradient.count <= Self.fullValues { label.append(Self.values(gradient)) }
            }
            if unconnected.contains(input) { label.append("unconnected: no output depends on it") }
            lines.append(
                "  grad\(index) [shape=box, style=\"filled,dashed\", color=\"#dc2626\", fillcolor=\"#fee2e2\", "
                    + "label=\(Self.label(label))];")
            // Reversed likewise, so the gradient sits left of its input, where the backward flow ends.
            lines.append("  grad\(index) -> \(id) [dir=back, style=dashed, color=\"#dc2626\"];")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The forward edges gradient flows back along: from a name that depends on a `wrt` input to a node
    /// that some output depends on. Both walks are iterative.
    private func gradientEdges() -> [(from: String, to: String)] {
        let nodes = Dictionary(spec.nodes.map { ($0.id, $0) }) { first, _ in first }
        var feedsOutput = Set<String>()
        var stack = outputs
        while let name = stack.popLast() {
            guard feedsOutput.insert(name).inserted, let node = nodes[name] else { continue }
            for case .name(let argument) in node.args { stack.append(argument) }
        }
        var consumers: [String: [String]] = [:]
        for node in spec.nodes {
            for case .name(let argument) in node.args { consumers[argument, default: []].append(node.id) }
        }
        var dependsOnWrt = Set<String>()
        stack = wrt
        while let name = stack.popLast() {
            guard dependsOnWrt.insert(name).inserted else { continue }
            stack.append(contentsOf: consumers[name] ?? [])
        }
        var edges: [(String, String)] = []
        var seen = Set<[String]>()
        for node in spec.nodes where feedsOutput.contains(node.id) && dependsOnWrt.contains(node.id) {
            for case .name(let argument) in node.args where dependsOnWrt.contains(argument) {
                if seen.insert([argument, node.id]).inserted { edges.append((argument, node.id)) }
            }
        }
        return edges
    }

    private func seedText(_ output: String) -> [String] {
        switch seeds[output] {
        case .ones?: ["ones " + shapeText(output)]
        case .tensor(let seed)?: [Self.shape(seed.shape), summary(seed)]
        case nil: ["1 (implicit: one element)"]
        }
    }

    private func shapeText(_ name: String) -> String {
        values[name].map { Self.shape($0.shape) } ?? ""
    }

    private func summary(_ tensor: Tensor?) -> String {
        guard let tensor else { return "" }
        if tensor.count <= Self.fullValues { return Self.values(tensor) }
        let data = tensor.data
        let mean = data.reduce(0, +) / Double(data.count)
        return "min " + Self.number(data.min() ?? .nan) + "  max " + Self.number(data.max() ?? .nan)
            + "  mean " + Self.number(mean)
    }

    private func norm(_ tensor: Tensor) -> Double {
        tensor.data.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    // MARK: Text

    private static func shape(_ shape: [Int]) -> String {
        shape.isEmpty ? "scalar" : "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }

    private static func values(_ tensor: Tensor) -> String {
        if tensor.rank == 0 { return number(tensor.data.first ?? .nan) }
        return "[" + tensor.data.map(number).joined(separator: ", ") + "]"
    }

    private static func number(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x > 0 ? "Infinity" : "-Infinity" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return String(format: "%.6g", x)
    }

    /// A quoted DOT label of already-escaped lines.
    private static func label(_ lines: [String]) -> String {
        "\"" + lines.filter { !$0.isEmpty }.joined(separator: "\\n") + "\""
    }

    /// `text` made safe inside a double-quoted DOT string: backslashes and quotes escaped (so no `\N`, `\G`,
    /// `\l` … escape is ever formed from user text), line breaks shown as breaks, other controls dropped.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n", "\r": escaped += "\\n"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: escaped += " "
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
