import AutodiffCore
import Foundation
import Testing

@testable import AutodiffService

/// Rectangular nested arrays of numbers parse straight into one packed array with their shape;
/// anything else keeps the boxed form, and tensors decode the same either way.
@Suite struct PackedArrayTests {
    func parse(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    func tensor(_ text: String) throws -> Tensor {
        try WireTensor.decode(try parse(text), what: "x", node: "x", limits: Limits())
    }

    /// The message `decode` refuses `text` with.
    func refusal(_ text: String) throws -> String? {
        do {
            _ = try tensor(text)
            return nil
        } catch let error as AutodiffError {
            return error.message
        }
    }

    @Test func rectangularArraysArePacked() throws {
        #expect(try parse("[[1, 2, 3], [4, 5, 6]]") == .grid(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))
        #expect(try parse("[[[1], [2]], [[3], [4]]]") == .grid(shape: [2, 2, 1], data: [1, 2, 3, 4]))
        #expect(try parse("[[], []]") == .grid(shape: [2, 0], data: []))
        #expect(
            try parse(#"{"a": [[1.5]], "b": [2]}"#)
                == .object(["a": .grid(shape: [1, 1], data: [1.5]), "b": .numbers([2])]))
        #expect(try tensor("[[1, 2, 3], [4, 5, 6]]") == Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))
        #expect(try tensor("[[[]]]") == Tensor(shape: [1, 1, 0], data: []))
    }

    @Test func mixedArraysStayBoxedInOrder() throws {
        #expect(try parse("[[1, 2], [3]]") == .array([.numbers([1, 2]), .numbers([3])]))
        #expect(try parse("[1, [2]]") == .array([.number(1), .numbers([2])]))
        #expect(
            try parse(#"[[1, 2], "a", [[3]]]"#)
                == .array([.numbers([1, 2]), .string("a"), .grid(shape: [1, 1], data: [3])]))
        #expect(
            try parse(#"[[1, 2], [3, "NaN"]]"#) == .array([.numbers([1, 2]), .array([.number(3), .string("NaN")])]))
        #expect(try tensor(#"[[1, 2], [3, "NaN"]]"#).data.map(\.bitPattern) == [1, 2, 3, Double.nan].map(\.bitPattern))
    }

    @Test func raggedArraysAreRefusedWithTheSameMessages() throws {
        #expect(
            try refusal("[[1, 2], [3]]")
                == "x: ragged nested arrays: expected 2 elements at depth 1 (shape [2, 2] from the first elements), "
                + "found 1")
        #expect(
            try refusal("[[[1, 2], [3, 4]], [[5, 6, 7], [8, 9, 10]]]")
                == "x: ragged nested arrays: expected 2 elements at depth 2 (shape [2, 2, 2] from the first elements), "
                + "found 3")
        #expect(
            try refusal("[[[1], [2]], [[3], 4]]") == "x: ragged nested arrays: expected an array at depth 2, found a number")
        #expect(
            try refusal("[[[1], [2]], [3, 4]]") == "x: ragged nested arrays: expected arrays at depth 2, found numbers")
        #expect(
            try refusal("[[1, 2], [[3], [4]]]")
                == "x: nested arrays must be rectangular with numbers at depth 2, found an array there")
        #expect(
            try refusal("[[1], [[2]]]")
                == "x: nested arrays must be rectangular with numbers at depth 2, found an array there")
        #expect(
            try refusal("[[1, 2], []]")
                == "x: ragged nested arrays: expected 2 elements at depth 1 (shape [2, 2] from the first elements), "
                + "found 0")
    }

    @Test func flatDataIsReadPackedOrElementByElement() throws {
        let packed = try tensor(#"{"shape": [2, 2], "data": [1, 2, 3, 4]}"#)
        #expect(try packed == Tensor(shape: [2, 2], data: [1, 2, 3, 4]))
        let mixed = try tensor(#"{"shape": [3], "data": [1, "NaN", "-Infinity"]}"#)
        #expect(mixed.shape == [3] && mixed.data[0] == 1 && mixed.data[1].isNaN && mixed.data[2] == -.infinity)
        #expect(
            try refusal(#"{"shape": [3], "data": [1, 2]}"#)
                == #"x: shape [3] holds 3 elements, but "data" has 2"#)
        #expect(
            try refusal(#"{"shape": [3], "data": [1, "NaN"]}"#)
                == #"x: shape [3] holds 3 elements, but "data" has 2"#)
        #expect(
            try refusal(#"{"shape": [2], "data": [[1], [2]]}"#)
                == #"x: "data" must be a flat array of numbers, found an array"#)
    }

    @Test func attributesReadPackedArraysAsBefore() throws {
        let graph = #"{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x",1],"attrs":{"a":[[1,2]]}}]}"#
        let spec = try WireGraph.decode(try parse(graph), limits: Limits())
        #expect(spec.nodes.first?.attrs["a"] == .array([.array([.number(1), .number(2)])]))
    }
}
