// The engine benchmark: matrix-product GFLOP/s, per-node cost of long elementwise chains,
// elementwise throughput and the two workloads of issue 11, in-process through the public API.
//
//     swift run -c release autodiffd-bench            # everything
//     swift run -c release autodiffd-bench wide_mlp   # one section: matmul, chain, elementwise,
//                                                     # wide_mlp, deep_chain, square
//
// Figures are medians of repeated runs after a warm-up; peak RSS is the process's high-water mark.
// glibc's allocator is set as the server sets it (`MallocPolicy`).
// Results go in docs/PERFORMANCE.md ("Engine"). Nothing here is asserted.

import AutodiffCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: Helpers

/// Deterministic values in [-1, 1).
struct Random {
    var state: UInt64
    mutating func next() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }
    mutating func tensor(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return try! Tensor(shape: shape, data: (0..<count).map { _ in next() })
    }
}

/// Median wall-clock and thread-CPU seconds of one run. On a machine shared with other work the
/// CPU time is the steadier figure (it leaves out time spent waiting for a core).
struct Timing {
    var wall: Double
    var cpu: Double
    /// `"<wall> (cpu <cpu>)"` in `unit`s (1e3: ms, 1e6: µs).
    func text(_ unit: Double, _ name: String, digits: Int = 3) -> String {
        "\(format(wall * unit, digits)) \(name) (cpu \(format(cpu * unit, digits)))"
    }
}

func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// The medians of `body` over `runs` runs, after `warmup` unmeasured ones.
func median(runs: Int, warmup: Int = 2, _ body: () throws -> Void) rethrows -> Timing {
    for _ in 0..<warmup { try body() }
    var walls: [Double] = []
    var cpus: [Double] = []
    for _ in 0..<runs {
        let start = ContinuousClock.now
        let cpuStart = threadCPUSeconds()
        try body()
        cpus.append(threadCPUSeconds() - cpuStart)
        let elapsed = ContinuousClock.now - start
        walls.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
    return Timing(wall: walls.sorted()[runs / 2], cpu: cpus.sorted()[runs / 2])
}

/// The process's peak and current resident set, in MiB (Linux /proc; 0 elsewhere).
func residentMiB() -> (peak: Double, current: Double) {
    guard let file = fopen("/proc/self/status", "r") else { return (0, 0) }
    defer { fclose(file) }
    var peak = 0.0
    var current = 0.0
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let kib = Double(text.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
        if text.hasPrefix("VmHWM:") { peak = kib / 1024 }
        if text.hasPrefix("VmRSS:") { current = kib / 1024 }
    }
    return (peak, current)
}

/// Minor page faults of the process so far (memory the kernel had to map in on first touch).
func minorPageFaults() -> Int {
    var usage = rusage()
    #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    return usage.ru_minflt
}

/// Resets the process's peak resident set to its current one (Linux 4.0+; nothing elsewhere).
func resetPeakResident() {
    guard let file = fopen("/proc/self/clear_refs", "w") else { return }
    fputs("5", file)
    fclose(file)
}

func node(_ id: String, _ op: String, _ args: [String], _ attrs: [String: AttributeValue] = [:]) -> NodeSpec {
    NodeSpec(id: id, op: op, args: args.map { .name($0) }, attrs: attrs)
}

func format(_ value: Double, _ digits: Int = 2) -> String {
    var text = String(Double(Int((value * pow(10, Double(digits))).rounded())) / pow(10, Double(digits)))
    if text.hasSuffix(".0") && digits == 0 { text.removeLast(2) }
    return text
}

var random = Random(state: 42)
let sections = Set(CommandLine.arguments.dropFirst())
func wanted(_ section: String) -> Bool { sections.isEmpty || sections.contains(section) }

// Without the server's allocator settings glibc's dynamic thresholds hand a call's freed memory back
// to the kernel or not depending on what earlier calls freed, and the next call's page faults make
// figures unsteady (cached `wide_mlp` at 5.5 or 8 ms).
MallocPolicy.apply(environment: ProcessInfo.processInfo.environment)
print("engine: \(Engine.blasDescription)")

// MARK: Matrix products

if wanted("matmul") {
    print("\n## matmul (Engine.multiply, the matmul op's kernel), median of 50")
    let cases: [(String, [Int], [Int], Bool, Bool)] = [
        ("64x256 · 256x512", [64, 256], [256, 512], false, false),
        ("  dA = G(64x512) · Wᵀ", [64, 512], [256, 512], false, true),
        ("  dW = Aᵀ · G(64x512)", [64, 256], [64, 512], true, false),
        ("256x256 · 256x256", [256, 256], [256, 256], false, false),
        ("  dA = G · Wᵀ", [256, 256], [256, 256], false, true),
        ("  dW = Aᵀ · G", [256, 256], [256, 256], true, false),
        ("64x512 · 512x10", [64, 512], [512, 10], false, false),
        ("  dA = G(64x10) · Wᵀ", [64, 10], [512, 10], false, true),
        ("  dW = Aᵀ · G(64x10)", [64, 512], [64, 10], true, false),
        ("64x512 · 512x512", [64, 512], [512, 512], false, false),
    ]
    for (name, lhs, rhs, ta, tb) in cases {
        let (a, b) = (random.tensor(lhs), random.tensor(rhs))
        let m = ta ? lhs[1] : lhs[0]
        let k = ta ? lhs[0] : lhs[1]
        let n = tb ? rhs[0] : rhs[1]
        let time = try median(runs: 50) { _ = try Engine.multiply(a, b, transposingA: ta, transposingB: tb) }
        let flops = 2.0 * Double(m * k * n)
        print(
            "\(name): \(time.text(1e6, "µs", digits: 1)), \(format(flops / time.wall / 1e9, 1)) GFLOP/s "
                + "(cpu \(format(flops / time.cpu / 1e9, 1)))")
    }
    // The json_matmul engine part: one matmul node through Graph.forward.
    let graph = try Graph(GraphSpec(inputs: ["a", "b"], nodes: [node("c", "matmul", ["a", "b"])]))
    let values = ["a": random.tensor([256, 256]), "b": random.tensor([256, 256])]
    let time = try median(runs: 50) { _ = try graph.forward(values: values, outputs: ["c"]) }
    print("Graph.forward matmul 256x256 · 256x256: \(time.text(1e3, "ms"))")
}

// MARK: Chains

/// The spec of `nodes` chained unary ops, cycling sin, tanh, cos, sigmoid; and its last node.
func chainSpec(nodes: Int) -> (GraphSpec, String) {
    let ops = ["sin", "tanh", "cos", "sigmoid"]
    var specs: [NodeSpec] = []
    specs.reserveCapacity(nodes)
    var previous = "x"
    for i in 0..<nodes {
        specs.append(node("n\(i)", ops[i % ops.count], [previous]))
        previous = "n\(i)"
    }
    return (GraphSpec(inputs: ["x"], nodes: specs), previous)
}

/// `nodes` chained unary ops on a vector of `length`, cycling sin, tanh, cos, sigmoid.
func chain(nodes: Int, length: Int, random: inout Random) throws -> (Graph, [String: Tensor], String) {
    let (spec, output) = chainSpec(nodes: nodes)
    let graph = try Graph(spec, limits: Limits(maxNodes: 1_000_000))
    return (graph, ["x": random.tensor([length])], output)
}

if wanted("chain") {
    print("\n## elementwise chains on a 16-vector, forward + backward through Graph.backward")
    for nodes in [1_000, 10_000, 100_000] {
        let (graph, values, output) = try chain(nodes: nodes, length: 16, random: &random)
        let limits = Limits(maxNodes: 1_000_000, maxWork: Int.max)
        let runs = nodes >= 100_000 ? 5 : 21
        for cache in [nil, PlanCache(maxSlots: 4_000_000)] {
            let time = try median(runs: runs, warmup: 1) {
                _ = try graph.backward(
                    values: values, outputs: [output], seeds: [output: .ones], limits: limits, cache: cache)
            }
            print(
                "\(nodes) nodes\(cache == nil ? "" : ", plan cached"): \(time.text(1e3, "ms", digits: 2)), "
                    + "\(format(time.wall * 1e9 / Double(nodes), 0)) ns per node "
                    + "(cpu \(format(time.cpu * 1e9 / Double(nodes), 0)))")
        }
        // What a server pays on top for a graph sent inline: validating it and its fingerprint.
        let (spec, _) = chainSpec(nodes: nodes)
        let build = try median(runs: runs, warmup: 1) { _ = try Graph(spec, limits: Limits(maxNodes: 1_000_000)) }
        print(
            "\(nodes) nodes, Graph(spec) (validation, fingerprint): \(build.text(1e3, "ms", digits: 2)), "
                + "\(format(build.wall * 1e9 / Double(nodes), 0)) ns per node "
                + "(cpu \(format(build.cpu * 1e9 / Double(nodes), 0)))")
    }
}

// MARK: Elementwise throughput

if wanted("elementwise") {
    print("\n## elementwise ops on 1M elements (one-node Graph.forward), median of 11")
    let count = 1 << 20
    let x = random.tensor([count])
    let y = random.tensor([count])
    let row = random.tensor([1024])
    let unary: [(String, [String: AttributeValue])] = [
        "neg", "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "reciprocal", "square", "log1p",
        "expm1", "erf", "abs", "relu", "leaky_relu", "elu", "gelu", "softplus", "sign", "floor", "ceil", "round",
    ].map { ($0, [:]) } + [("clamp", ["min": .number(-0.5), "max": .number(0.5)])]
    let binary = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "gt", "eq"]
    var cases: [(String, NodeSpec, [String: Tensor])] = []
    for (op, attrs) in unary { cases.append((op, node("out", op, ["x"], attrs), ["x": x])) }
    for op in binary { cases.append((op, node("out", op, ["x", "y"]), ["x": x, "y": y])) }
    cases.append(("add (broadcast 1024x1024 + 1024)", node("out", "add", ["x", "y"]), [
        "x": try Tensor(shape: [1024, 1024], data: x.data), "y": row,
    ]))
    cases.append(("sum (all)", node("out", "sum", ["x"]), ["x": x]))
    cases.append(("sum axis 0 of 1024x1024", node("out", "sum", ["x"], ["axes": .array([.number(0)])]), [
        "x": try Tensor(shape: [1024, 1024], data: x.data),
    ]))
    cases.append(("log_softmax rows of 1024x1024", node("out", "log_softmax", ["x"]), [
        "x": try Tensor(shape: [1024, 1024], data: x.data),
    ]))
    cases.append(("transpose 1024x1024", node("out", "transpose", ["x"]), [
        "x": try Tensor(shape: [1024, 1024], data: x.data),
    ]))
    for (name, spec, values) in cases {
        let graph = try Graph(GraphSpec(inputs: values.keys.sorted(), nodes: [spec]))
        let time = try median(runs: 11) { _ = try graph.forward(values: values, outputs: ["out"]) }
        print(
            "\(name): \(format(Double(count) / time.wall / 1e6, 0)) M elements/s "
                + "(cpu \(format(Double(count) / time.cpu / 1e6, 0)))")
    }
}

// MARK: Workloads

if wanted("wide_mlp") {
    print("\n## wide_mlp: batch 64, 256→512 tanh→512 relu→10, log_softmax cross-entropy, fwd+bwd")
    /// The workload's tensors for `batch` rows of `features` inputs and hidden layers of `hidden` units.
    func mlpValues(batch: Int, features: Int, hidden: Int) throws -> [String: Tensor] {
        let onehot = (0..<batch).flatMap { row in (0..<10).map { $0 == row % 10 ? 1.0 : 0.0 } }
        return [
            "x": random.tensor([batch, features]),
            "w1": random.tensor([features, hidden]), "b1": random.tensor([hidden]),
            "w2": random.tensor([hidden, hidden]), "b2": random.tensor([hidden]),
            "w3": random.tensor([hidden, 10]), "b3": random.tensor([10]),
            "target": try Tensor(shape: [batch, 10], data: onehot),
        ]
    }
    let before = residentMiB()
    let graph = try Graph(
        GraphSpec(
            inputs: ["b1", "b2", "b3", "target", "w1", "w2", "w3", "x"],
            nodes: [
                node("m1", "matmul", ["x", "w1"]), node("a1", "add", ["m1", "b1"]), node("h1", "tanh", ["a1"]),
                node("m2", "matmul", ["h1", "w2"]), node("a2", "add", ["m2", "b2"]), node("h2", "relu", ["a2"]),
                node("m3", "matmul", ["h2", "w3"]), node("a3", "add", ["m3", "b3"]),
                node("lp", "log_softmax", ["a3"], ["axis": .number(1)]),
                node("picked", "mul", ["lp", "target"]),
                node("rows", "sum", ["picked"], ["axes": .array([.number(1)])]),
                node("mean", "mean", ["rows"]), node("loss", "neg", ["mean"]),
            ]))
    // The process's first run of this code and of OpenBLAS (code pages, its packing buffer) happens
    // on a call of the same graph on tensors of a few elements, so that the second figure below is
    // the workload's own memory.
    _ = try graph.backward(
        values: mlpValues(batch: 2, features: 4, hidden: 8), outputs: ["loss"], seeds: [:],
        wrt: ["w1", "b1", "w2", "b2", "w3", "b3"])
    let warmed = residentMiB().current
    resetPeakResident()
    let values = try mlpValues(batch: 64, features: 256, hidden: 512)
    let wrt = ["w1", "b1", "w2", "b2", "w3", "b3"]
    let time = try median(runs: 31) {
        _ = try graph.backward(values: values, outputs: ["loss"], seeds: [:], wrt: wrt)
    }
    let plans = PlanCache(maxSlots: 4_000_000)
    let cached = try median(runs: 31) {
        _ = try graph.backward(values: values, outputs: ["loss"], seeds: [:], wrt: wrt, cache: plans)
    }
    let tensorBytes = values.values.reduce(0) { $0 + $1.count * 8 }
    let after = residentMiB()
    // Steady state: what a call adds at its peak to what is resident between calls (the inputs, the
    // cached plan, OpenBLAS's packing buffer and whatever the first calls left).
    resetPeakResident()
    let between = residentMiB().current
    let faultsBefore = minorPageFaults()
    for _ in 0..<11 {
        _ = try graph.backward(values: values, outputs: ["loss"], seeds: [:], wrt: wrt, cache: plans)
    }
    let faultsPerCall = (minorPageFaults() - faultsBefore) / 11
    let during = residentMiB().peak
    let inputMiB = Double(tensorBytes) / 1_048_576
    print("median \(time.text(1e3, "ms")); plan cached \(cached.text(1e3, "ms"))")
    print(
        "RSS before \(format(before.current, 1)) MiB, peak after \(format(after.peak, 1)) MiB "
            + "(growth \(format((after.peak - before.current) / inputMiB, 2))×); "
            + "input tensors \(format(inputMiB, 2)) MiB")
    print(
        "after a call on tiny tensors (\(format(warmed - before.current, 1)) MiB of first-use code and buffers): "
            + "peak growth \(format((after.peak - warmed) / inputMiB, 2))× the input tensors")
    print(
        "steady state (plan cached): \(format(between, 1)) MiB resident between calls, peak "
            + "\(format(during, 1)) MiB during them: a call adds \(format(during - between, 1)) MiB "
            + "(\(format((during - between) / inputMiB, 2))× the input tensors); "
            + "\(faultsPerCall) page faults per call")
}

if wanted("deep_chain") {
    print("\n## deep_chain: 2,000 chained sin/tanh/cos/sigmoid on a 256-vector, seed ones, fwd+bwd")
    let (graph, values, output) = try chain(nodes: 2_000, length: 256, random: &random)
    let time = try median(runs: 31) {
        _ = try graph.backward(values: values, outputs: [output], seeds: [output: .ones])
    }
    let plans = PlanCache(maxSlots: 4_000_000)
    let cached = try median(runs: 31) {
        _ = try graph.backward(values: values, outputs: [output], seeds: [output: .ones], cache: plans)
    }
    let forward = try median(runs: 31) { _ = try graph.forward(values: values, outputs: [output]) }
    print(
        "median \(time.text(1e3, "ms")); plan cached \(cached.text(1e3, "ms")); "
            + "forward alone \(forward.text(1e3, "ms"))")
}

if wanted("square") {
    print("\n## square: y = x ⊙ x on 1M elements, backward with seed ones (big_base64's engine part)")
    let graph = try Graph(GraphSpec(inputs: ["x"], nodes: [node("y", "mul", ["x", "x"])]))
    let values = ["x": random.tensor([1 << 20])]
    let time = try median(runs: 21) { _ = try graph.backward(values: values, outputs: ["y"], seeds: ["y": .ones]) }
    let plans = PlanCache(maxSlots: 4_000_000)
    let cached = try median(runs: 21) {
        _ = try graph.backward(values: values, outputs: ["y"], seeds: ["y": .ones], cache: plans)
    }
    print("median \(time.text(1e3, "ms")); plan cached \(cached.text(1e3, "ms"))")
}

print("\npeak RSS \(format(residentMiB().peak, 1)) MiB")
