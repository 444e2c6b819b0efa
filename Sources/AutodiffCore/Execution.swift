/// Request checks shared by every entry point, and the evaluation of a program for one or many
/// seed rows.
extension Graph {
    /// Checks that `values` holds exactly this graph's inputs, within limits, and plans the graph
    /// for their shapes. Returns the program and a value table with the inputs filled in.
    func bind(
        _ values: [String: Tensor], limits: Limits, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> (Program, [Tensor?]) {
        try limits.checkNames(values.count, "values")
        for name in values.keys.sorted() where inputSlot(name) == nil {
            throw .invalidRequest(
                "\"\(name)\" is not an input of the graph; its inputs are \(inputs.quotedList)", node: name)
        }
        var shapes: [String: [Int]] = [:]
        for name in inputs {
            guard let value = values[name] else {
                throw .invalidRequest("values has no entry for input \"\(name)\"", node: name)
            }
            try limits.checkSize(value.shape, what: "input \"\(name)\"", node: name)
            shapes[name] = value.shape
        }
        let program = try Program(graph: self, inputShapes: shapes, limits: limits, deadline: deadline)
        var table = [Tensor?](repeating: nil, count: program.graph.slotCount)
        for name in inputs {
            if let slot = slots[name] { table[slot] = values[name] }
        }
        return (program, table)
    }

    /// The slots of `names`, each a name of the graph (`unknown_name` otherwise), listed once.
    func outputSlots(_ names: [String], limits: Limits) throws(AutodiffError) -> [Int] {
        guard !names.isEmpty else { throw .invalidRequest("outputs must name at least one node, input or constant") }
        try limits.checkNames(names.count, "outputs")
        var result: [Int] = []
        var seen = Set<Int>()
        for name in names {
            guard let slot = slots[name] else { throw .unknownName(node: name, name: name) }
            guard seen.insert(slot).inserted else {
                throw .invalidRequest("outputs lists \"\(name)\" twice", node: name)
            }
            result.append(slot)
        }
        return result
    }

    /// The input slots of `names` (default: every input), each once, in order.
    func inputSlots(
        _ names: [String]?, field: String = "wrt", limits: Limits
    ) throws(AutodiffError) -> [(name: String, slot: Int)] {
        try limits.checkNames(names?.count ?? 0, field)
        var result: [(name: String, slot: Int)] = []
        var seen = Set<String>()
        for name in names ?? inputs where seen.insert(name).inserted {
            guard let slot = inputSlot(name) else {
                throw .invalidRequest(
                    "\(field) names \"\(name)\", which is not an input of the graph; its inputs are \(inputs.quotedList)",
                    node: name)
            }
            result.append((name, slot))
        }
        return result
    }
}

extension Program {
    /// Evaluates `fixed` targets once, then `perRow` targets once per row with the seed slots set
    /// to `seeds(row)`. Whatever does not depend on the seeds is computed only once.
    ///
    /// Before any of it runs, the whole call is costed and refused if over the limits: the nodes
    /// computed once, every row's nodes, seed and result copies and overhead, and `resultBytes`,
    /// what the caller's copy and rendering of the results will take (`Limits.resultBytes`).
    /// `priorWork` is what earlier evaluations of the same call were costed at.
    ///
    /// Returns the fixed targets' values, per row the per-row targets' values, and the estimated
    /// work including `priorWork`.
    func evaluate(
        values: [Tensor?], fixed: [Int], perRow: [Int] = [], seedSlots: [Int] = [], rows: Int = 0,
        resultBytes: Int, priorWork: Int = 0, seeds: (Int) -> [Tensor] = { _ in [] }
    ) throws(AutodiffError) -> (fixed: [Tensor], rows: [[Tensor]], work: Int) {
        // With nothing to compute per row, no row needs running, however many the seeds hold.
        let rows = perRow.isEmpty ? 0 : rows
        // What depends on the seeds is recomputed per row; the rest once.
        var seedDependent = [Bool](repeating: false, count: graph.slotCount)
        var isSeed = [Bool](repeating: false, count: graph.slotCount)
        for slot in seedSlots {
            seedDependent[slot] = true
            isSeed[slot] = true
        }
        for slot in 0..<graph.slotCount {
            if case .node(let node) = graph.definitions[slot] {
                seedDependent[slot] = node.args.contains { arg in
                    if case .slot(let s) = arg { return seedDependent[s] }
                    return false
                }
            }
        }
        let order = schedule(fixed + (rows > 0 ? perRow : []), known: { values[$0] != nil || isSeed[$0] })
        let once = order.filter { !seedDependent[$0] }
        let repeated = order.filter { seedDependent[$0] }

        // Each row builds its seeds, runs its nodes and copies out its results.
        let onceCost = cost(once)
        let rowCost = cost(repeated)
        var rowWork = rowCost.work.addingClamped(Self.nodeOverhead)
        for slot in seedSlots + perRow {
            rowWork = rowWork.addingClamped(Shape.iterations(shapes[slot]) ?? Int.max)
        }
        let work = priorWork.addingClamped(onceCost.work).addingClamped(rowWork.multipliedClamped(by: rows))
        try checkCost(work: work, bytes: onceCost.bytes.addingClamped(rowCost.bytes).addingClamped(resultBytes))

        // Keep what the repeated part or the fixed targets read; release the rest early.
        var keep = Set(fixed)
        for slot in repeated {
            if case .node(let node) = graph.definitions[slot] {
                for case .slot(let arg) in node.args where !seedDependent[arg] { keep.insert(arg) }
            }
        }
        var base = values
        try run(schedule(running: once, keep: keep), values: &base)
        let perRowSchedule = schedule(running: repeated, keep: Set(perRow))
        var rowResults: [[Tensor]] = []
        rowResults.reserveCapacity(rows)
        for row in 0..<rows {
            try checkDeadline()
            var table = base
            for (slot, seed) in zip(seedSlots, seeds(row)) { table[slot] = seed }
            try run(perRowSchedule, values: &table)
            rowResults.append(try perRow.map { (slot) throws(AutodiffError) in try Self.value(table, slot) })
        }
        return (try fixed.map { (slot) throws(AutodiffError) in try Self.value(base, slot) }, rowResults, work)
    }

    private static func value(_ table: [Tensor?], _ slot: Int) throws(AutodiffError) -> Tensor {
        guard let value = table[slot] else { throw .internalError("slot \(slot) was not computed") }
        return value
    }
}

/// Stacks equally shaped tensors along a new leading axis of `rows` (shape `leading + each`).
func stack(_ tensors: [Tensor], leading: [Int], each: [Int]) -> Tensor {
    var data: [Double] = []
    data.reserveCapacity(Shape.count(leading + each))
    for tensor in tensors { data.append(contentsOf: tensor.data) }
    return Tensor(validShape: leading + each, data: data)
}

extension [String] {
    var quotedList: String { "[" + map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
}
