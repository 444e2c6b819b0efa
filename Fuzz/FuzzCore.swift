// libFuzzer target for the core: bytes become a small random graph, values and request, which go
// through every entry point. Errors are fine; a trap is a bug. Build and run with Fuzz/run.sh.
import AutodiffCoreFuzzed

private struct ByteReader {
    var bytes: [UInt8]
    var index = 0
    mutating func next() -> Int {
        defer { index += 1 }
        return index < bytes.count ? Int(bytes[index]) : 0
    }
    mutating func pick<T>(_ options: [T]) -> T { options[next() % options.count] }
}

private let numbers: [Double] = [0, -0.0, 1, -1, 0.5, 2, -3, 1e300, -1e300, .infinity, -.infinity, .nan, 1000, -1000, 3]
private let ints: [Int] = [0, 1, -1, 2, -2, 3, 4, -4, 100, Int(1) << 40, -(Int(1) << 62), Int(1) << 62]

private func attribute(_ r: inout ByteReader) -> AttributeValue {
    switch r.next() % 7 {
    case 0: return .number(Double(r.pick(ints)))
    case 1: return .array((0..<(r.next() % 4)).map { _ in .number(Double(r.pick(ints))) })
    case 2: return .bool(r.next() % 2 == 0)
    case 3: return .string(r.pick(["none", "tanh", "x"]))
    case 4: return .number(r.pick(numbers))
    case 5: return .null
    default: return .array([.string("a")])
    }
}

private func tensor(_ r: inout ByteReader, shape: [Int]) -> Tensor {
    let count = shape.reduce(1, *)
    return try! Tensor(shape: shape, data: (0..<count).map { _ in r.pick(numbers) })
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var r = ByteReader(bytes: Array(UnsafeBufferPointer(start: data, count: size)))
    let inputCount = 1 + r.next() % 3
    let inputs = (0..<inputCount).map { "i\($0)" }
    var names = inputs
    var nodes: [NodeSpec] = []
    for n in 0..<(1 + r.next() % 5) {
        let op = r.pick(Op.allCases)
        let arity = 1 + r.next() % 3
        let args: [ArgumentSpec] = (0..<arity).map { _ in
            r.next() % 5 == 0 ? .number(r.pick(numbers)) : .name(r.pick(names))
        }
        var attrs: [String: AttributeValue] = [:]
        for spec in op.attributes where r.next() % 2 == 0 { attrs[spec.name] = attribute(&r) }
        nodes.append(NodeSpec(id: "n\(n)", op: op.rawValue, args: args, attrs: attrs))
        names.append("n\(n)")
    }
    var values: [String: Tensor] = [:]
    for name in inputs {
        let shape = (0..<(r.next() % 4)).map { _ in r.next() % 4 }
        values[name] = tensor(&r, shape: shape)
    }
    let limits = Limits(maxNodes: 50, maxElements: 4096, maxBytes: 1 << 22, maxWork: 1 << 24)
    guard let graph = try? Graph(GraphSpec(inputs: inputs, nodes: nodes), limits: limits) else { return 0 }
    let output = names.last!
    _ = try? graph.forward(values: values, outputs: [output], limits: limits)
    _ = try? graph.backward(values: values, outputs: [output], seeds: [output: .ones],
                            options: BackwardOptions(returnGraph: true), limits: limits)
    if let result = try? graph.forward(values: values, outputs: [output], limits: limits), let y = result[output] {
        if let batch = try? Tensor(shape: [2] + y.shape, data: (0..<(2 * y.count)).map { _ in r.pick(numbers) }) {
            _ = try? graph.backward(values: values, outputs: [output], seeds: [output: .tensor(batch)],
                                    options: BackwardOptions(batched: true), limits: limits)
        }
        if let back = try? graph.backward(values: values, outputs: [output], seeds: [output: .ones],
                                          options: BackwardOptions(returnGraph: true), limits: limits),
           let bg = back.backwardGraph, let second = try? Graph(bg.graph, limits: limits) {
            var v2 = values
            v2["seed:\(output)"] = Tensor.init(scalar: 1)
            if let first = bg.outputs.values.first {
                _ = try? second.backward(values: v2, outputs: [first], seeds: [first: .ones], limits: limits)
            }
        }
    }
    _ = try? graph.jacobian(values: values, outputs: [output], limits: limits)
    _ = try? graph.jvp(values: values, outputs: [output], tangents: values, limits: limits)
    _ = try? graph.hvp(values: values, output: output, vectors: values, limits: limits)
    return 0
}
