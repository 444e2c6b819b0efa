/// Request checks shared by every entry point, and the evaluation of a program for one or many
/// seed rows.
extension Graph {
    /// Checks that `values` holds exactly this graph's inputs, within limits, and plans the graph
    /// for their shapes. Returns the program and a value table with the inputs filled in.
    func bind(_ values: [String: Tensor], limits: Limits) throws(AutodiffError) -> (Program, [Tensor?]) {
        for name in values.keys.sorted() where !inputs.contains(name) {
            throw .invalidRequest(
                "\"\(name)\" is not an input of the graph; its inputs are \(inputs.quotedList)", node: name)
        }
        var shapes: [String: [Int]] = [:]
        for name in inputs {
            guard let value = values[name] else {
                throw .invalidRequest("values has no entry for input \"\(name)\"", node: name)
            }
            try checkSize(value, limits: limits, what: "input \"\(name)\"", node: name)
            shapes[name] = value.shape
        }
        let program = try Program(graph: self, inputShapes: shapes, limits: limits)
        var table = [Tensor?](repeating: nil, count: program.graph.slotCount)
        for name in inputs {
            if let slot = slots[name] { table[slot] = values[name] }
        }
        return (program, table)
    }

    /// The slots of `names`, each a name of the graph (`unknown_name` otherwise), listed once.
    func outputSlots(_ names: [String]) throws(AutodiffError) -> [Int] {
        guard !names.isEmpty else { throw .invalidRequest("outputs must name at least one node, input or constant") }
        var result: [Int] = []
        for name in names {
            guard let slot = slots[name] else { throw .unknownName(node: name, name: name) }
            guard !result.contains(slot) else { throw .invalidRequest("outputs lists \"\(name)\" twice", node: name) }
            result.append(slot)
        }
        return result
    }

    /// The input slots of `names` (default: every input), each once, in order.
    func inputSlots(_ names: [String]?, field: String = "wrt") throws(AutodiffError) -> [(name: String, slot: Int)] {
        var result: [(name: String, slot: Int)] = []
        for name in names ?? inputs where !result.contains(where: { $0.name == name }) {
            guard inputs.contains(name), let slot = slots[name] else {
                throw .invalidRequest(
                    "\(field) names \"\(name)\", which is not an input of the graph; its inputs are \(inputs.quotedList)",
                    node: name)
            }
            result.append((name, slot))
        }
        return result
    }
}

func checkSize(_ tensor: Tensor, limits: Limits, what: String, node: String) throws(AutodiffError) {
    guard tensor.count <= limits.maxElements else {
        throw .limitExceeded(
            "\(what) has \(tensor.count) elements; the limit per tensor is \(limits.maxElements)", node: node)
    }
}

extension Program {
    /// Evaluates `fixed` targets once, then `perRow` targets once per row with the seed slots set
    /// to `seeds(row)`. Whatever does not depend on the seeds is computed only once.
    ///
    /// Returns the fixed targets' values and, per row, the per-row targets' values.
    func evaluate(
        values: [Tensor?], fixed: [Int], perRow: [Int], seedSlots: [Int], rows: Int,
        seeds: (Int) -> [Tensor], deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> (fixed: [Tensor], rows: [[Tensor]]) {
        // What depends on the seeds is recomputed per row; the rest once.
        var seedDependent = [Bool](repeating: false, count: graph.slotCount)
        for slot in seedSlots { seedDependent[slot] = true }
        for slot in 0..<graph.slotCount {
            if case .node(let node) = graph.definitions[slot] {
                seedDependent[slot] = node.args.contains { arg in
                    if case .slot(let s) = arg { return seedDependent[s] }
                    return false
                }
            }
        }
        let isInput = { (slot: Int) in values[slot] != nil || seedSlots.contains(slot) }
        let order = schedule(fixed + (rows > 0 ? perRow : []), known: isInput)
        let once = order.filter { !seedDependent[$0] }
        let repeated = order.filter { seedDependent[$0] }
        var resultElements = 0
        for slot in perRow { resultElements = resultElements.addingClamped(Shape.count(shapes[slot])) }
        let (resultBytes, overflow) = resultElements.multipliedReportingOverflow(by: 8 * Swift.max(rows, 1))
        try checkCost(once, extraBytes: overflow ? Int.max : resultBytes)
        try checkCost(repeated, repeats: rows)

        // Keep what the repeated part or the fixed targets read; release the rest early.
        var keep = Set(fixed)
        for slot in repeated {
            if case .node(let node) = graph.definitions[slot] {
                for case .slot(let arg) in node.args where !seedDependent[arg] { keep.insert(arg) }
            }
        }
        var base = values
        try run(schedule(running: once, keep: keep), values: &base, deadline: deadline)
        let perRowSchedule = schedule(running: repeated, keep: Set(perRow))
        var rowResults: [[Tensor]] = []
        rowResults.reserveCapacity(rows)
        for row in 0..<rows {
            var table = base
            for (slot, seed) in zip(seedSlots, seeds(row)) { table[slot] = seed }
            try run(perRowSchedule, values: &table, deadline: deadline)
            rowResults.append(try perRow.map { (slot) throws(AutodiffError) in try Self.value(table, slot) })
        }
        return (try fixed.map { (slot) throws(AutodiffError) in try Self.value(base, slot) }, rowResults)
    }

    private static func value(_ table: [Tensor?], _ slot: Int) throws(AutodiffError) -> Tensor {
        guard let value = table[slot] else { throw .internalError("slot \(slot) was not computed") }
        return value
    }
}

/// Stacks equally shaped tensors along a new leading axis of `rows` (shape `leading + each`).
func stack(_ tensors: [Tensor], leading: [Int], each: [Int]) -> Tensor {
    var data: [Double] = []
    data.reserveCapacity(Shape.count(leading) * Shape.count(each))
    for tensor in tensors { data.append(contentsOf: tensor.data) }
    return Tensor(validShape: leading + each, data: data)
}

extension [String] {
    var quotedList: String { "[" + map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
}
