/// A graph bound to one call's input shapes: every slot's shape and kernel plan is known, so
/// differentiation can add nodes with concrete shapes and evaluation cannot fail on shapes.
struct Program: Sendable {
    private(set) var graph: Graph
    /// Each slot's shape, and its plan (`nil` for an input or a constant), read as `shapes[slot]`
    /// and `plans[slot]`.
    private(set) var shapes = SlotTable<[Int]>()
    private(set) var plans = SlotTable<Plan?>()
    /// The element count of each distinct shape, by its position in `shapes` (`elementCount(of:)`).
    private var shapeCounts: [Int] = []
    let limits: Limits
    /// The plans of the last few elementwise nodes `add` planned, by argument shapes.
    private var elementwisePlans = ElementwisePlans()
    /// When the call must be finished: checked between nodes, between rows and while growing. A
    /// program kept in a `PlanCache` is given each call's own.
    var deadline: ContinuousClock.Instant?

    /// Checks every node's shapes and attributes, in order, given the shapes of the inputs.
    init(
        graph: Graph, inputShapes: [String: [Int]], limits: Limits, deadline: ContinuousClock.Instant?
    ) throws(AutodiffError) {
        self.graph = graph
        self.limits = limits
        self.deadline = deadline
        shapes.reserveCapacity(graph.slotCount)
        plans.reserveCapacity(graph.slotCount)
        // One node's arguments at a time, in one list for every node.
        var args: [Graph.Arg] = []
        for slot in 0..<graph.slotCount {
            switch graph.definitions[slot] {
            case .input:
                appendUnplanned(shape: inputShapes[graph.name(of: slot)] ?? [])
            case .constant(let index):
                appendUnplanned(shape: graph.constants[index].shape)
            case .node(let op, _):
                args.removeAll(keepingCapacity: true)
                for k in graph.argumentRange(of: slot) { args.append(graph.arguments[k]) }
                try appendPlan(op, node: graph.name(of: slot), attrs: graph.attributes(of: slot), args: args)
            }
        }
    }

    /// Appends the shape and plan of a node `op(args)`: `op.plan`'s, or for an elementwise node the
    /// plan of an earlier node whose arguments had the same shapes (`ElementwisePlans`), shared.
    /// (`node`, the node's name for errors, is spelled out only when the plan is worked out.)
    private mutating func appendPlan(
        _ op: Op, node: @autoclosure () -> String, attrs: Attributes, args: [Graph.Arg]
    ) throws(AutodiffError) {
        if op.isPlannedByShapesAlone, let known = elementwisePlans.plan(for: args, shapes: shapes) {
            shapes.append(sharing: known.shape)
            plans.append(sharing: known.plan)
            return
        }
        let argShapes = shapes(of: args)
        let plan = try op.plan(node: node(), attrs: attrs, args: argShapes, limits: limits)
        let shared = (shape: appendShape(plan.shape), plan: plans.append(plan))
        if op.isPlannedByShapesAlone { elementwisePlans.remember(shared, for: argShapes) }
    }

    /// Appends the shape of an input or a constant, which has no plan.
    private mutating func appendUnplanned(shape: [Int]) {
        appendShape(shape)
        plans.append(nil)
    }

    /// Appends a slot with a shape of its own; returns the shape's position in `shapes`.
    @discardableResult
    private mutating func appendShape(_ shape: [Int]) -> Int {
        shapeCounts.append(Shape.count(shape))
        return shapes.append(shape)
    }

    /// `Shape.count(shapes[slot])`, read without taking the shape out of the table (which retains it).
    func elementCount(of slot: Int) -> Int { shapeCounts[shapes.position(of: slot)] }

    /// The element count of an argument: its slot's, or 1 for a literal.
    func elementCount(of arg: Graph.Arg) -> Int {
        switch arg {
        case .slot(let slot): elementCount(of: slot)
        case .literal: 1
        }
    }

    func shape(_ arg: Graph.Arg) -> [Int] {
        switch arg {
        case .slot(let slot): shapes[slot]
        case .literal: []
        }
    }

    /// The shapes of `args`. (A loop rather than `args.map(shape)`, which would copy the whole
    /// program into a closure, retaining every array it holds, once per call.)
    func shapes(of args: [Graph.Arg]) -> [[Int]] {
        var result: [[Int]] = []
        result.reserveCapacity(args.count)
        for arg in args { result.append(shape(arg)) }
        return result
    }

    // MARK: Growing (used by differentiation)

    /// Appends `op(args)` with `rawAttrs` (`nil`: none), preferring the name `id`, and returns a
    /// reference to its result.
    mutating func add(
        _ op: Op, _ args: [Graph.Arg], _ rawAttrs: [String: AttributeValue]?, id: Graph.GeneratedName
    ) throws(AutodiffError) -> Graph.Arg {
        guard graph.slotCount < limits.maxProgramSlots else {
            throw .limitExceeded(
                "the derivative graph would have more than \(limits.maxProgramSlots) nodes "
                    + "(64 times --max-nodes); differentiate a smaller graph")
        }
        if graph.slotCount % 256 == 0 { try checkDeadline() }
        // Most added nodes have no attributes: nothing to check, no table to build.
        let attrs =
            (rawAttrs?.isEmpty ?? true) && op.attributes.isEmpty
            ? Attributes() : try Attributes(validating: rawAttrs ?? [:], op: op, node: id.text)
        try appendPlan(op, node: id.text, attrs: attrs, args: args)
        return .slot(graph.appendNode(op, args, attrs, preferred: id))
    }

    /// Makes room for `count` more slots.
    mutating func reserveCapacity(adding count: Int) {
        graph.reserveCapacity(adding: count)
        shapes.reserveCapacity(shapes.count + count)
        plans.reserveCapacity(plans.count + count)
    }

    /// Decides the names of the nodes differentiation added (before reading many of them).
    mutating func nameAddedNodes() {
        graph.nameAddedNodes()
    }

    /// Appends an input of `shape`; returns its slot.
    mutating func addInput(preferredName: String, shape: [Int]) -> Int {
        let slot = graph.appendInput(preferredName: preferredName)
        appendUnplanned(shape: shape)
        return slot
    }

    // MARK: Evaluation

    /// The slots that must be computed to know `targets`, in slot (dependency) order, leaving out
    /// those for which `known` is true.
    func schedule(_ targets: [Int], known: (Int) -> Bool = { _ in false }) -> [Int] {
        var needed = [Bool](repeating: false, count: graph.slotCount)
        var stack = targets
        while let slot = stack.popLast() {
            guard !needed[slot], !known(slot) else { continue }
            needed[slot] = true
            for k in graph.argumentRange(of: slot) {
                if case .slot(let arg) = graph.arguments[k] { stack.append(arg) }
            }
        }
        return needed.indices.filter { needed[$0] }
    }

    /// What evaluating one node costs beyond its arithmetic (dispatch, allocation), in the same
    /// units as `Plan.work`: about a microsecond, as measured on small tensors.
    static let nodeOverhead = 1_000

    /// Estimated operations (arithmetic plus `nodeOverhead` per node) and bytes of the tensors of
    /// computing `order` once. Saturates rather than overflowing.
    func cost(_ order: [Int]) -> (work: Int, bytes: Int) {
        var work = 0
        var bytes = 0
        for slot in order {
            bytes = bytes.addingClamped(elementCount(of: slot).multipliedClamped(by: 8))
            if let plan = plans[slot] { work = work.addingClamped(plan.work.addingClamped(Self.nodeOverhead)) }
        }
        return (work, bytes)
    }

    /// Refuses a run estimated at more than `limits.maxWork` operations or `limits.maxBytes` bytes.
    func checkCost(work: Int, bytes: Int) throws(AutodiffError) {
        guard work <= limits.maxWork else {
            throw .limitExceeded(
                "the computation needs about \(work == Int.max ? "more than \(Int.max)" : "\(work)") "
                    + "floating-point operations; the limit is \(limits.maxWork)")
        }
        guard bytes <= limits.maxBytes else {
            throw .limitExceeded(
                "the computation needs about \(bytes) bytes of tensors and results; the limit is \(limits.maxBytes)")
        }
    }

    func checkDeadline() throws(AutodiffError) {
        if let deadline, ContinuousClock.now > deadline {
            throw .deadlineExceeded("the computation did not finish before the request deadline")
        }
    }
}

/// Plans of elementwise nodes (`Op.isPlannedByShapesAlone`) for the last few combinations of
/// argument shapes, so that differentiation, which adds thousands of such nodes over a handful of
/// combinations (`g · y`, `1 − y`, …), plans each combination once: a new plan allocates its shape
/// list and stride arrays, and the program then holds and frees them per node. A plan found here is
/// the one `Op.plan` would return for those shapes (nothing else goes into it); a shape that failed
/// to plan is never remembered, so its error comes from `Op.plan` every time. Each is kept as its
/// and its shape's positions in the program's `SlotTable`s, for the nodes that share them.
private struct ElementwisePlans {
    typealias Shared = (shape: Int, plan: Int)

    private struct Entry {
        let shapes: [[Int]]
        let shared: Shared
    }

    private static let capacity = 4
    private var entries: [Entry] = []
    private var oldest = 0

    /// The plan remembered for arguments `args` of the given slot `shapes`, if any.
    func plan(for args: [Graph.Arg], shapes: SlotTable<[Int]>) -> Shared? {
        search: for index in entries.indices where entries[index].shapes.count == args.count {
            for position in args.indices {
                switch args[position] {
                case .slot(let slot): if shapes[slot] != entries[index].shapes[position] { continue search }
                case .literal: if !entries[index].shapes[position].isEmpty { continue search }
                }
            }
            return entries[index].shared
        }
        return nil
    }

    mutating func remember(_ shared: Shared, for shapes: [[Int]]) {
        if entries.count < Self.capacity {
            entries.append(Entry(shapes: shapes, shared: shared))
        } else {
            entries[oldest] = Entry(shapes: shapes, shared: shared)
            oldest = (oldest + 1) % Self.capacity
        }
    }
}

/// One value per slot, held as a position in a list of the distinct values: most slots of a
/// differentiated program share their shape and plan with many others (`ElementwisePlans`), and
/// appending a position retains nothing, where appending the value retained it and freeing the
/// program released it again.
struct SlotTable<Value: Sendable>: Sendable {
    private var values: [Value] = []
    private var positions: [Int] = []

    var count: Int { positions.count }

    subscript(slot: Int) -> Value { values[positions[slot]] }

    /// Where the value of `slot` is in the list of distinct values.
    func position(of slot: Int) -> Int { positions[slot] }

    /// Appends a slot with a value of its own; returns the value's position, for `append(sharing:)`.
    @discardableResult
    mutating func append(_ value: Value) -> Int {
        values.append(value)
        positions.append(values.count - 1)
        return values.count - 1
    }

    /// Appends a slot with the value at `position`.
    mutating func append(sharing position: Int) {
        positions.append(position)
    }

    /// Makes room for `count` slots in all.
    mutating func reserveCapacity(_ count: Int) {
        positions.reserveCapacity(count)
    }
}
