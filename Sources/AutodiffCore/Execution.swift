/// Request checks shared by every entry point, and the evaluation of a program for one or many
/// seed rows.
extension Graph {
    /// Checks that `values` holds exactly this graph's inputs, within limits, and plans the graph
    /// for their shapes. Returns the program and a value table with the inputs filled in.
    func bind(
        _ values: [String: Tensor], limits: Limits, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> (Program, [Tensor?]) {
        let program = try self.program(for: try inputShapes(values, limits: limits), limits: limits, deadline: deadline)
        return (program, table(values))
    }

    /// The graph planned for inputs of `shapes` (in input order).
    func program(
        for shapes: [[Int]], limits: Limits, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) -> Program {
        try Program(
            graph: self, inputShapes: Dictionary(uniqueKeysWithValues: zip(inputs, shapes)), limits: limits,
            deadline: deadline)
    }

    /// The shapes of `values`, in input order, once checked to be exactly the graph's inputs, each
    /// within limits.
    func inputShapes(_ values: [String: Tensor], limits: Limits) throws(AutodiffError) -> [[Int]] {
        try limits.checkNames(values.count, "values")
        for name in values.keys.sorted() where inputSlot(name) == nil {
            throw .invalidRequest(
                "\"\(name)\" is not an input of the graph; its inputs are \(inputs.quotedList)", node: name)
        }
        var shapes: [[Int]] = []
        shapes.reserveCapacity(inputs.count)
        for name in inputs {
            guard let value = values[name] else {
                throw .invalidRequest("values has no entry for input \"\(name)\"", node: name)
            }
            try limits.checkSize(value.shape, what: "input \"\(name)\"", node: name)
            shapes.append(value.shape)
        }
        return shapes
    }

    /// A value table for a program grown from this graph, inputs filled in. It covers this graph's
    /// slots only: the slots after its end have no value (`Program.evaluate`), so a call does not
    /// make, clear and free a table of every slot differentiation added.
    func table(_ values: [String: Tensor]) -> [Tensor?] {
        var table = [Tensor?](repeating: nil, count: slotCount)
        for name in inputs {
            if let slot = slots[name] { table[slot] = values[name] }
        }
        return table
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

/// How to evaluate a program for one kind of call, worked out from the program alone: what is
/// computed once and what per row, in which order, when each value can be released, and what it
/// costs. A `PlanCache` keeps it with its program.
struct EvaluationPlan: Sendable {
    let fixed: [Int]
    let perRow: [Int]
    let seedSlots: [Int]
    /// The input slots that are not seeds, in order: each must have a value.
    let givenInputs: [Int]
    let compiled: CompiledEvaluation
    /// Operations and bytes of the part computed once.
    let onceWork: Int
    let onceBytes: Int
    /// Operations of one row (its nodes, seed construction, result copies and overhead), and the
    /// bytes of the tensors it computes.
    let rowWork: Int
    let rowBytes: Int
}

extension Program {
    /// Plans to compute `fixed` targets once, then `perRow` targets once per row with the seed slots
    /// set. Whatever does not depend on the seeds is computed only once. Every input slot is taken
    /// to have a value (`evaluate` checks that); `rows` is whether any row will run.
    func evaluationPlan(
        fixed: [Int], perRow: [Int] = [], seedSlots: [Int] = [], rows: Bool = true
    ) throws(AutodiffError) -> EvaluationPlan {
        let perRow = rows ? perRow : []
        // What depends on the seeds is recomputed per row; the rest once. (The order is by slot, so
        // a node's arguments are known to depend on the seeds or not before it.)
        var seedDependent = [Bool](repeating: false, count: graph.slotCount)
        for slot in seedSlots { seedDependent[slot] = true }
        var once: [Int] = []
        var repeated: [Int] = []
        for slot in schedule(fixed + perRow, known: { slot in
            if case .input = graph.definitions[slot] { return true }
            return false
        }) {
            for k in graph.argumentRange(of: slot) {
                if case .slot(let s) = graph.arguments[k], seedDependent[s] {
                    seedDependent[slot] = true
                    break
                }
            }
            if seedDependent[slot] { repeated.append(slot) } else { once.append(slot) }
        }
        let onceCost = cost(once)
        let rowCost = cost(repeated)
        var rowWork = rowCost.work.addingClamped(Self.nodeOverhead)
        for slot in seedSlots + perRow {
            rowWork = rowWork.addingClamped(Shape.iterations(shapes[slot]) ?? Int.max)
        }
        let isSeed = Set(seedSlots)
        let givenInputs = (0..<graph.slotCount).filter { slot in
            if case .input = graph.definitions[slot] { return !isSeed.contains(slot) }
            return false
        }
        let compiled = try compile(once: once, repeated: repeated, fixed: fixed, perRow: perRow, seedSlots: seedSlots)
        return EvaluationPlan(
            fixed: fixed, perRow: perRow, seedSlots: seedSlots, givenInputs: givenInputs, compiled: compiled,
            onceWork: onceCost.work, onceBytes: onceCost.bytes, rowWork: rowWork, rowBytes: rowCost.bytes)
    }

    /// Evaluates `fixed` targets once, then `perRow` targets once per row with the seed slots set
    /// to `seeds(row)` (see `evaluationPlan`).
    func evaluate(
        values: [Tensor?], fixed: [Int], perRow: [Int] = [], seedSlots: [Int] = [], rows: Int = 0,
        resultBytes: Int, priorWork: Int = 0, seeds: (Int) -> [SeedValue] = { _ in [] }
    ) throws(AutodiffError) -> (fixed: [Tensor], rows: [[Tensor]], work: Int) {
        let plan = try evaluationPlan(fixed: fixed, perRow: perRow, seedSlots: seedSlots, rows: rows > 0)
        return try evaluate(
            plan, values: values, rows: rows, resultBytes: resultBytes, priorWork: priorWork, seeds: seeds)
    }

    /// Runs `plan` for `rows` rows, with the given inputs' `values` by slot (none for a slot after
    /// the table's end).
    ///
    /// Before any of it runs, the whole call is costed and refused if over the limits: the nodes
    /// computed once, every row's nodes, seed and result copies and overhead, and `resultBytes`,
    /// what the caller's copy and rendering of the results will take (`Limits.resultBytes`).
    /// `priorWork` is what earlier evaluations of the same call were costed at.
    ///
    /// Returns the fixed targets' values, per row the per-row targets' values, and the estimated
    /// work including `priorWork`.
    func evaluate(
        _ plan: EvaluationPlan, values: [Tensor?], rows: Int, resultBytes: Int, priorWork: Int = 0,
        seeds: (Int) -> [SeedValue]
    ) throws(AutodiffError) -> (fixed: [Tensor], rows: [[Tensor]], work: Int) {
        // With nothing to compute per row, no row needs running, however many the seeds hold.
        let rows = plan.perRow.isEmpty ? 0 : rows
        if rows == 0, !plan.perRow.isEmpty {
            // Planned for rows, called with none: plan again without them.
            let once = try evaluationPlan(fixed: plan.fixed, seedSlots: plan.seedSlots, rows: false)
            return try evaluate(
                once, values: values, rows: 0, resultBytes: resultBytes, priorWork: priorWork, seeds: seeds)
        }
        for slot in plan.givenInputs where Self.value(of: slot, in: values) == nil {
            throw .invalidRequest("no value was given for input \"\(graph.name(of: slot))\"")
        }
        let work = priorWork.addingClamped(plan.onceWork).addingClamped(plan.rowWork.multipliedClamped(by: rows))
        try checkCost(work: work, bytes: plan.onceBytes.addingClamped(plan.rowBytes).addingClamped(resultBytes))

        let compiled = plan.compiled
        var storage: [[Double]] = []
        storage.reserveCapacity(compiled.inputsInPlace.count)
        for slot in compiled.inputsInPlace {
            guard let value = Self.value(of: slot, in: values), value.count == Shape.count(shapes[slot]) else {
                throw .internalError("input \"\(graph.name(of: slot))\" has no value of its planned shape")
            }
            storage.append(value.data)
        }
        let arena = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, compiled.size))
        defer { arena.deallocate() }
        for (value, offset) in compiled.literals { arena[offset] = value }
        for (slot, offset) in compiled.inputs {
            guard let value = Self.value(of: slot, in: values), value.count == Shape.count(shapes[slot]) else {
                throw .internalError("input \"\(graph.name(of: slot))\" has no value of its planned shape")
            }
            Self.copy(value, to: arena + offset)
        }
        for (value, offset) in compiled.constants { Self.copy(value, to: arena + offset) }
        return try Self.withStorage(of: storage) { (inputs) throws(AutodiffError) in
            let memory = Memory(arena: arena, inputs: inputs)
            let written = try run(compiled.once, compiled.operands, memory)
            let fixed = try tensors(plan.fixed, at: compiled.fixed, written: written, memory)
            var rowResults: [[Tensor]] = []
            rowResults.reserveCapacity(rows)
            for row in 0..<rows {
                try checkDeadline()
                for (place, (slot, seed)) in zip(compiled.seeds, zip(plan.seedSlots, seeds(row))) {
                    try seed.write(to: place.map { arena + $0 }, count: Shape.count(shapes[slot]))
                }
                let written = try run(compiled.repeated, compiled.operands, memory)
                rowResults.append(try tensors(plan.perRow, at: compiled.perRow, written: written, memory))
            }
            return (fixed, rowResults, work)
        }
    }

    /// The value of `slot` in the table `values`, which has none for the slots after its end.
    private static func value(of slot: Int, in values: [Tensor?]) -> Tensor? {
        slot < values.count ? values[slot] : nil
    }

    /// Runs `instructions` (whose operands are in `operands`) on `memory`, checking the deadline
    /// before each node. Returns the values written directly for targets, by target index.
    private func run(_ instructions: [CompiledEvaluation.Instruction], _ operands: [Int], _ memory: Memory)
        throws(AutodiffError) -> [Int: [Double]]
    {
        var written: [Int: [Double]] = [:]
        // Whether there is a deadline, asked once: asking an optional `ContinuousClock.Instant` (a
        // type of another module) goes through its type's metadata.
        let hasDeadline = deadline != nil
        // Both read in place, through buffer pointers (see `CompiledEvaluation.Instruction`).
        try operands.withUnsafeBufferPointer { (operands) throws(AutodiffError) in
            try instructions.withUnsafeBufferPointer { (instructions) throws(AutodiffError) in
                guard let first = instructions.baseAddress else { return }
                for index in instructions.indices {
                    if hasDeadline { try checkDeadline() }
                    // Through `pointee`: the buffer's subscript still copied each instruction.
                    let instruction = first + index
                    if let target = instruction.pointee.result {
                        guard let value = instruction.pointee.result(memory, operands: operands, deadline: deadline)
                        else { throw Kernels.deadlineError }
                        written[target] = value
                    } else {
                        guard instruction.pointee.run(memory, operands: operands, deadline: deadline) else {
                            throw Kernels.deadlineError
                        }
                    }
                }
            }
        }
        return written
    }

    /// The values of the target `slots`: those `written` directly, the others (at `addresses`)
    /// copied out of `memory`.
    private func tensors(_ slots: [Int], at addresses: [Int?], written: [Int: [Double]], _ memory: Memory)
        throws(AutodiffError) -> [Tensor]
    {
        var result: [Tensor] = []
        result.reserveCapacity(slots.count)
        for (index, (slot, address)) in zip(slots, addresses).enumerated() {
            let shape = shapes[slot]
            if let address {
                let data = Array(UnsafeBufferPointer(start: memory[address], count: Shape.count(shape)))
                result.append(Tensor(validShape: shape, data: data))
            } else if let data = written[index] {
                result.append(Tensor(validShape: shape, data: data))
            } else {
                throw .internalError("target \"\(graph.name(of: slot))\" was not computed")
            }
        }
        return result
    }

    /// Calls `body` with the storage of each of `arrays`, in order, read in place (no copy). One
    /// closure nests per array, so `arrays` is short (`CompiledEvaluation.maxInputsInPlace`).
    private static func withStorage<R>(
        of arrays: [[Double]], _ body: (UnsafeBufferPointer<UnsafePointer<Double>>) throws(AutodiffError) -> R
    ) throws(AutodiffError) -> R {
        var pointers: [UnsafePointer<Double>] = []
        pointers.reserveCapacity(arrays.count)
        func nest(_ index: Int) throws(AutodiffError) -> R {
            guard index < arrays.count else {
                return try pointers.withUnsafeBufferPointer { (pointers) throws(AutodiffError) in try body(pointers) }
            }
            return try arrays[index].withUnsafeBufferPointer { (data) throws(AutodiffError) in
                guard let start = data.baseAddress else {
                    throw AutodiffError.internalError("an input read in place has no storage")
                }
                pointers.append(start)
                return try nest(index + 1)
            }
        }
        return try nest(0)
    }

    fileprivate static func copy(_ value: Tensor, to start: UnsafeMutablePointer<Double>) {
        value.data.withUnsafeBufferPointer { data in
            if let source = data.baseAddress { start.initialize(from: source, count: data.count) }
        }
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

/// A seed's value for one row of an evaluation, written into the seed's place before the row runs.
/// A seed of ones and a row of an identity are written there directly, never made as tensors first.
enum SeedValue: Sendable {
    case tensor(Tensor)
    /// Every element this value (a seed of ones).
    case filled(Double)
    /// Zeros but a one at this index: a row of the identity (a Jacobian's row).
    case basis(Int)

    /// This seed for row `row` of a batch: a tensor's row; a filled or basis seed is the same in every row.
    func row(_ row: Int) -> SeedValue {
        switch self {
        case .tensor(let tensor): .tensor(tensor.row(row))
        case .filled, .basis: self
        }
    }

    /// Writes the seed's `count` elements at `start` (`nil`: nothing reads the seed, so only checks).
    func write(to start: UnsafeMutablePointer<Double>?, count: Int) throws(AutodiffError) {
        switch self {
        case .tensor(let tensor):
            guard tensor.count == count else {
                throw .internalError("a seed of shape \(tensor.shape) was given for \(count) elements")
            }
            if let start { Program.copy(tensor, to: start) }
        case .filled(let value):
            if let start { Kernels.fill(start, with: value, count: count) }
        case .basis(let index):
            guard index >= 0, index < count else {
                throw .internalError("a basis seed's one at \(index) is outside its \(count) elements")
            }
            guard let start else { return }
            Kernels.fill(start, with: 0, count: count)
            start[index] = 1
        }
    }
}
