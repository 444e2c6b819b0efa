// libFuzzer target for the core: bytes become a random multi-node graph (hostile attributes, empty
// dimensions next to huge ones), input values, seeds and tangents, which go through every entry
// point: forward, backward (plain, batched, return_graph and its second derivative), jacobian, jvp
// and hvp. Errors are fine; a trap, a sanitizer report or a run past libFuzzer's -timeout is a bug.
// Build and run with Fuzz/run.sh.
@testable import AutodiffCoreFuzzed

private struct ByteReader {
    var bytes: [UInt8]
    var index = 0
    mutating func next() -> Int {
        defer { index += 1 }
        return index < bytes.count ? Int(bytes[index]) : 0
    }
    mutating func pick<T>(_ options: [T]) -> T { options[next() % options.count] }
    mutating func chance(_ outOf: Int) -> Bool { next() % outOf == 0 }
}

private let numbers: [Double] = [0, -0.0, 1, -1, 0.5, 2, -3, 1e300, -1e300, .infinity, -.infinity, .nan, 1000, -1000, 3]
/// Small sizes, and values at the edges of shape arithmetic: 2⁴⁰, 2⁶², the factors of ≈ 2⁶³ that
/// once overflowed a slice offset, and values past ±2⁶² that must be refused or clamped.
private let ints: [Double] = [
    0, 1, -1, 2, -2, 3, 4, -4, 100, 0x1p20, 0x1p40, -0x1p62, 0x1p62, 14_197_294_936_951, 649_657, 1e18, 1e19,
    -1e19, 0x1p62 + 0x1p11, 9.223372036854775807e18,
]
/// Dimensions for input shapes: mostly small, sometimes huge next to a zero.
private let dims: [Int] = [0, 1, 2, 3, 4, 1, 2, 1 << 20, 1 << 40, 14_197_294_936_951]

private func attribute(_ r: inout ByteReader) -> AttributeValue {
    switch r.next() % 8 {
    case 0: return .number(r.pick(ints))
    case 1, 2: return .array((0..<(r.next() % 5)).map { _ in .number(r.pick(ints)) })
    case 3: return .bool(r.next() % 2 == 0)
    case 4: return .string(r.pick(["none", "tanh", "x"]))
    case 5: return .number(r.pick(numbers))
    case 6: return .null
    default: return .array([.string("a")])
    }
}

/// A shape of rank 0…4 whose element count stays small: a huge dimension comes with a zero.
private func shape(_ r: inout ByteReader) -> [Int] {
    var shape = (0..<(r.next() % 5)).map { _ in r.pick(dims) }
    if shape.reduce(1, { $0 > 64 || $1 > 64 ? 65 : $0 * $1 }) > 64, !shape.isEmpty {
        shape[r.next() % shape.count] = 0
    }
    return shape
}

private func tensor(_ r: inout ByteReader, shape: [Int]) -> Tensor? {
    let count = shape.contains(0) ? 0 : shape.reduce(1, *)
    return try? Tensor(shape: shape, data: (0..<count).map { _ in r.pick(numbers) })
}

private let limitChoices = [
    Limits(maxNodes: 50, maxElements: 4096, maxBytes: 1 << 22, maxWork: 1 << 24, maxNames: 16, maxArgs: 8),
    // Without an element bound, the byte and work bounds alone must keep every loop and allocation small.
    Limits(maxNodes: 50, maxElements: .max, maxBytes: 1 << 22, maxWork: 1 << 24, maxNames: 16, maxArgs: 8),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var r = ByteReader(bytes: Array(UnsafeBufferPointer(start: data, count: size)))
    let limits = r.pick(limitChoices)
    let deadline = ContinuousClock.now + .seconds(5)
    let inputs = (0..<(1 + r.next() % 3)).map { "i\($0)" }
    var names = inputs
    var nodes: [NodeSpec] = []
    for n in 0..<(1 + r.next() % 8) {
        let op = r.pick(Op.allCases)
        // Mostly the op's own arity, so chains of elementwise nodes (fused groups) form.
        let arity: Int
        switch op.arity {
        case .exactly(let n) where !r.chance(4): arity = n
        default: arity = 1 + r.next() % 4
        }
        let args: [ArgumentSpec] = (0..<arity).map { _ in
            r.chance(6) ? .number(r.pick(numbers)) : .name(r.pick(names))
        }
        var attrs: [String: AttributeValue] = [:]
        for spec in op.attributes where r.next() % 3 != 0 { attrs[spec.name] = attribute(&r) }
        nodes.append(NodeSpec(id: "n\(n)", op: op.rawValue, args: args, attrs: attrs))
        names.append("n\(n)")
    }
    var values: [String: Tensor] = [:]
    for name in inputs {
        if let value = tensor(&r, shape: shape(&r)) { values[name] = value }
    }
    guard let graph = try? Graph(GraphSpec(inputs: inputs, nodes: nodes), limits: limits) else { return 0 }
    let output = r.chance(4) ? r.pick(names) : names[names.count - 1]
    let wrt = r.chance(3) ? [r.pick(inputs)] : nil

    _ = try? graph.forward(values: values, outputs: [output], limits: limits, deadline: deadline)
    _ = try? graph.backward(
        values: values, outputs: [output], seeds: [output: .ones], wrt: wrt,
        options: BackwardOptions(returnGraph: true), limits: limits, deadline: deadline)
    if let result = try? graph.forward(values: values, outputs: [output], limits: limits), let y = result[output] {
        // Batched seeds, sometimes with a huge batch of empty rows.
        let rows = y.count == 0 && r.chance(2) ? r.pick([1 << 20, 1 << 40, 0]) : r.next() % 4
        if let batch = tensor(&r, shape: [rows] + y.shape) {
            _ = try? graph.backward(
                values: values, outputs: [output], seeds: [output: .tensor(batch)], wrt: wrt,
                options: BackwardOptions(batched: true), limits: limits, deadline: deadline)
        }
        if let back = try? graph.backward(
            values: values, outputs: [output], seeds: [output: .ones],
            options: BackwardOptions(returnGraph: true), limits: limits, deadline: deadline),
            let returned = back.backwardGraph, let second = try? Graph(returned.graph, limits: limits),
            let first = returned.outputs.values.sorted().first
        {
            var secondValues = values
            secondValues["seed:\(output)"] = Tensor(scalar: 1)
            _ = try? second.backward(
                values: secondValues, outputs: [first], seeds: [first: .ones], limits: limits, deadline: deadline)
        }
    }
    _ = try? graph.jacobian(values: values, outputs: [output], wrt: wrt, limits: limits, deadline: deadline)
    expectFusedEqualsUnfused(graph, values: values, output: output, limits: limits)
    _ = try? graph.jvp(values: values, outputs: [output], tangents: values, limits: limits, deadline: deadline)
    _ = try? graph.hvp(
        values: values, output: output, vectors: values, wrt: wrt, limits: limits, deadline: deadline)
    return 0
}

/// Forward values and gradients (seed ones) with fusion on and off must be the same bits, errors
/// included; a difference traps, which libFuzzer reports as a crash.
private func expectFusedEqualsUnfused(_ graph: Graph, values: [String: Tensor], output: String, limits: Limits) {
    func run() -> [String: [UInt64]]? {
        guard let forward = try? graph.forward(values: values, outputs: [output], limits: limits),
            let backward = try? graph.backward(
                values: values, outputs: [output], seeds: [output: .ones], limits: limits)
        else { return nil }
        var bits = forward.mapValues { $0.data.map(\.bitPattern) + $0.shape.map(UInt64.init) }
        for (name, gradient) in backward.gradients { bits["d" + name] = gradient.data.map(\.bitPattern) }
        return bits
    }
    let fused = run()
    let unfused = Fusion.$isEnabled.withValue(false) { run() }
    if fused != unfused {
        fatalError("fused and unfused evaluations differ for output \(output): \(String(describing: fused)) "
            + "and \(String(describing: unfused))")
    }
}
