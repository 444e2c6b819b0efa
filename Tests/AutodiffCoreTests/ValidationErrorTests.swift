import Testing

@testable import AutodiffCore

/// Every typed error a client can provoke: its contract code, the node at fault, and a message that
/// says what was expected and what came.
@Suite("Validation errors")
struct ValidationErrorTests {
    /// Builds the graph and runs it forward on `values` (shape errors surface once values are known).
    func run(_ inputs: [String], _ values: [String: Tensor], _ nodes: NodeSpec..., output: String = "y") throws {
        let g = try Graph(GraphSpec(inputs: inputs, nodes: nodes))
        _ = try g.forward(values: values, outputs: [output])
    }

    // MARK: Graph structure

    @Test func unknownOp() {
        expectError("unknown_op", node: "y", mentions: ["frobnicate"]) {
            _ = try Graph(GraphSpec(inputs: ["x"], nodes: [nodeSpec("y", "frobnicate", ["x"])]))
        }
        // Op names are exact: the raw spelling, not the Swift case name.
        expectError("unknown_op", node: "y", mentions: ["leakyRelu"]) {
            _ = try Graph(GraphSpec(inputs: ["x"], nodes: [nodeSpec("y", "leakyRelu", ["x"])]))
        }
    }

    @Test func unknownName() {
        expectError("unknown_name", node: "y", mentions: ["nope"]) {
            _ = try graph(inputs: ["x"], node("y", .add, "x", "nope"))
        }
    }

    @Test func duplicateNames() {
        expectError("duplicate_name", node: "x") { _ = try graph(inputs: ["x"], node("x", .exp, "x")) }
        expectError("duplicate_name", node: "x") { _ = try graph(inputs: ["x", "x"], node("y", .exp, "x")) }
        expectError("duplicate_name", node: "k") {
            _ = try graph(inputs: ["k"], constants: ["k": scalar(1)], node("y", .exp, "k"))
        }
        expectError("duplicate_name", node: "h") {
            _ = try graph(inputs: ["x"], node("h", .exp, "x"), node("h", .sin, "x"))
        }
    }

    @Test func cycles() {
        expectError("cycle", node: "a") { _ = try graph(inputs: ["x"], node("a", .add, "a", "1")) }
        // A two-node cycle behind a valid prefix: the error names a node on the cycle, not h.
        let error = #expect(throws: AutodiffError.self) {
            _ = try graph(
                inputs: ["x"], node("h", .exp, "x"), node("c1", .add, "h", "c2"), node("c2", .mul, "c1", "2"),
                node("y", .sum, "c2"))
        }
        #expect(error?.code == .cycle)
        #expect(["c1", "c2"].contains(error?.node ?? ""), "cycle names \(error?.node ?? "nil")")
    }

    @Test func arity() {
        expectError("arity", node: "y", mentions: ["2", "1"]) { _ = try graph(inputs: ["x"], node("y", .add, "x")) }
        expectError("arity", node: "y", mentions: ["3"]) { _ = try graph(inputs: ["x"], node("y", .where, "x", "x")) }
        expectError("arity", node: "y") { _ = try graph(inputs: ["x"], node("y", .exp, "x", "x")) }
        expectError("arity", node: "y", mentions: ["at least 1"]) { _ = try graph(inputs: ["x"], node("y", .concat)) }
    }

    // MARK: Attributes

    @Test func attributeNamesAndKinds() {
        let x = ["x": T([2, 2], [1, 2, 3, 4])]
        let bad: [(Op, [String: AttributeValue], String)] = [
            (.sum, ["axis": .ints([0])], "axis"),  // sum takes axes
            (.exp, ["alpha": .number(1)], "alpha"),  // exp takes none
            (.sum, ["keepdims": .string("yes")], "keepdims"),
            (.sum, ["axes": .number(1.5)], "axes"),
            (.sum, ["axes": .array([.number(0.5)])], "axes"),
            (.transpose, ["perm": .string("reverse")], "perm"),
            (.gelu, ["approximate": .string("fast")], "approximate"),
            (.leakyRelu, ["negative_slope": .string("0.1")], "negative_slope"),
            (.reshape, [:], "shape"),  // required
            (.softmax, ["axis": .number(0.5)], "axis"),
        ]
        for (op, attrs, name) in bad {
            expectError("invalid_attribute", node: "y", mentions: [name]) {
                try run(["x"], x, node("y", op, "x", attrs: attrs))
            }
        }
    }

    @Test func attributeValuesCheckedAgainstShapes() throws {
        let x = ["x": try matrix([[1, 2, 3], [4, 5, 6]])]
        let bad: [(Op, [String: AttributeValue], String)] = [
            (.transpose, ["perm": .ints([0, 0])], "perm"),
            (.transpose, ["perm": .ints([0, 2])], "perm"),
            (.transpose, ["perm": .ints([0])], "perm"),
            (.sum, ["axes": .ints([2])], "axes"),
            (.max, ["axes": .ints([-3])], "axes"),
            (.sum, ["axes": .ints([0, -2])], "axes"),  // the same axis twice
            (.softmax, ["axis": .int(2)], "axis"),
            (.logSoftmax, ["axis": .int(-3)], "axis"),
            (.concat, ["axis": .int(2)], "axis"),
            (.reshape, ["shape": .ints([-1, -1])], "shape"),
            (.reshape, ["shape": .ints([4, 2])], "shape"),  // 8 elements for 6
            (.reshape, ["shape": .ints([-1, 4])], "shape"),  // 6 is not a multiple of 4
            (.reshape, ["shape": .ints([-2, 3])], "shape"),
            (.unsqueeze, ["axes": .ints([0, 0])], "axes"),
            (.unsqueeze, ["axes": .ints([4])], "axes"),  // output rank is 3
            (.slice, ["starts": .ints([0]), "ends": .ints([1]), "steps": .ints([0])], "steps"),
            (.slice, ["starts": .ints([0]), "ends": .ints([1]), "steps": .ints([-1])], "steps"),
            (.slice, ["starts": .ints([0, 1]), "ends": .ints([1])], "starts"),
            (.slice, ["starts": .ints([0]), "ends": .ints([1]), "axes": .ints([2])], "axes"),
        ]
        for (op, attrs, name) in bad {
            expectError("invalid_attribute", node: "y", mentions: [name]) {
                try run(["x"], x, node("y", op, "x", attrs: attrs))
            }
        }
        // A reshape that cannot hold the elements names both shapes.
        expectError("invalid_attribute", node: "y", mentions: ["[4,2]", "[2,3]"]) {
            try run(["x"], x, node("y", .reshape, "x", attrs: ["shape": .ints([4, 2])]))
        }
        // Squeezing an axis that is not 1, and broadcasting to an incompatible shape, are refused
        // (the contract does not say which of the two codes).
        expectError("invalid_attribute", "shape_mismatch", node: "y", mentions: ["[2,3]"]) {
            try run(["x"], x, node("y", .squeeze, "x", attrs: ["axes": .ints([0])]))
        }
        expectError("invalid_attribute", "shape_mismatch", node: "y", mentions: ["[2,3]", "[4,3]"]) {
            try run(["x"], x, node("y", .broadcastTo, "x", attrs: ["shape": .ints([4, 3])]))
        }
    }

    // MARK: Shapes

    @Test func shapeMismatches() throws {
        let m23 = try filled(1, [2, 3])
        expectError("shape_mismatch", node: "y", mentions: ["[2,3]", "[4]"]) {
            try run(["a", "b"], ["a": m23, "b": try filled(1, [4])], node("y", .add, "a", "b"))
        }
        expectError("shape_mismatch", node: "y", mentions: ["[2,3]", "[4,2]"]) {
            try run(["a", "b"], ["a": m23, "b": try filled(1, [4, 2])], node("y", .matmul, "a", "b"))
        }
        expectError("shape_mismatch", node: "y", mentions: ["[3]", "[4]"]) {
            try run(["a", "b"], ["a": try filled(1, [3]), "b": try filled(1, [4])], node("y", .matmul, "a", "b"))
        }
        expectError("shape_mismatch", node: "y") {  // batch dims 2 and 3 do not broadcast
            try run(
                ["a", "b"], ["a": try filled(1, [2, 2, 3]), "b": try filled(1, [3, 3, 2])], node("y", .matmul, "a", "b")
            )
        }
        expectError("shape_mismatch", node: "y", mentions: ["[2,3]", "[2,4]"]) {
            try run(["a", "b"], ["a": m23, "b": try filled(1, [2, 4])], node("y", .concat, "a", "b"))
        }
        expectError("shape_mismatch", node: "y") {
            try run(["a", "b"], ["a": m23, "b": try filled(1, [3])], node("y", .concat, "a", "b"))
        }
        expectError("shape_mismatch", node: "y") {
            try run(["c", "a"], ["c": try filled(1, [4]), "a": m23], node("y", .where, "c", "a", "1"))
        }
        expectError("invalid_attribute", "shape_mismatch", node: "y") {
            try run(
                ["x"], ["x": try filled(1, [4])],
                node(
                    "y", .sliceBackward, "x",
                    attrs: [
                        "shape": .ints([6]), "starts": .ints([1]), "ends": .ints([4]),
                    ]))
        }
        expectError("invalid_attribute", "shape_mismatch", node: "y") {
            try run(["x"], ["x": scalar(1)], node("y", .matmul, "x", "x"))
        }
    }

    @Test func theFaultyNodeIsNamedDeepInAGraph() throws {
        // h = x @ W is fine; z = h + b is not: [1,4] + [3].
        expectError("shape_mismatch", node: "z", mentions: ["[1,4]", "[3]"]) {
            try run(
                ["x", "W", "b"], ["x": try filled(1, [1, 2]), "W": try filled(1, [2, 4]), "b": try filled(1, [3])],
                node("h", .matmul, "x", "W"), node("z", .add, "h", "b"), node("y", .sum, "z"))
        }
    }

    // MARK: Requests

    @Test func requestErrors() throws {
        let g = try graph(inputs: ["x", "w"], node("y", .mul, "x", "w"), node("s", .sum, "y"))
        let values = ["x": try vector([1, 2]), "w": try vector([3, 4])]
        expectError("invalid_request", node: "w") { _ = try g.forward(values: ["x": values["x"]!], outputs: ["y"]) }
        expectError("invalid_request", node: "z") {
            _ = try g.forward(values: values.merging(["z": scalar(1)]) { a, _ in a }, outputs: ["y"])
        }
        expectError("invalid_request", node: "y") {
            _ = try g.backward(values: values, outputs: ["s"], seeds: [:], wrt: ["y"])
        }
        expectError("invalid_request", node: "q") {
            _ = try g.backward(values: values, outputs: ["s"], seeds: [:], wrt: ["q"])
        }
        expectError("invalid_request", node: "y") {  // a seed for something that is not an output
            _ = try g.backward(values: values, outputs: ["s"], seeds: ["y": .ones])
        }
        expectError("invalid_request", "unknown_name", node: "nope") {
            _ = try g.forward(values: values, outputs: ["nope"])
        }
        expectError("invalid_request", "unknown_name", node: "nope") {
            _ = try g.backward(values: values, outputs: ["nope"], seeds: [:])
        }
    }

    @Test func invalidTensors() {
        expectError("invalid_request", mentions: ["[2,3]", "5"]) {
            _ = try Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5])
        }
        expectError("invalid_request") { _ = try Tensor(shape: [-1], data: []) }
        expectError("invalid_request", "limit_exceeded") { _ = try Tensor(shape: [1 << 62, 1 << 62], data: []) }
    }
}
