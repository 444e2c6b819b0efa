/// An evaluation compiled for running without heap traffic per node: every node's kernel picked
/// once, and every value given a place in one block of memory (the arena) for the whole call.
///
/// The given inputs are read where the caller's tensors hold them (up to `maxInputsInPlace` of
/// them, the largest; the others, the seeds, constants and literals have places of their own in
/// the arena). A computed value shares its place with values whose lifetimes do not overlap its
/// own: a place returns to a pool of free places, by size, after the last node that reads its value,
/// unless the value is kept (a target, or a value computed once that the per-row part reads). A
/// node's result never shares a place with its arguments. A target that nothing reads after it is
/// written straight into the storage of the caller's result, never into the arena. A `sin` and a
/// `cos` of the same value are computed by one kernel, and a group of elementwise nodes by one
/// instruction, block by block (`Fusion`). Nothing here depends on input values, so a `PlanCache`
/// keeps it with its program.
struct CompiledEvaluation: Sendable {
    /// At most this many inputs are read in place (each costs one nested closure while the call runs).
    static let maxInputsInPlace = 64

    /// One node: its kernel reads the `Memory` addresses at `operands` of the evaluation's operand
    /// list and writes `count` elements at `output` in the arena or, with a `result`, into a new
    /// array: that target's value.
    ///
    /// Run through a buffer pointer over the instructions (`Program.run`): a struct read from an
    /// array was copied around each call, a kernel writing through pointers, retaining and
    /// releasing its kernel's arrays; read in place it is not, and needs no object of its own.
    struct Instruction: Sendable {
        let slot: Int
        let kernel: Kernel
        let operands: Range<Int>
        let output: Int
        let count: Int
        /// The index of the target (in `fixed` or `perRow`) this node writes directly.
        let result: Int?

        /// False (having stopped) when `deadline` passed. `all` is the evaluation's `operands`.
        @inline(__always)
        func run(_ memory: Memory, operands all: UnsafeBufferPointer<Int>, deadline: ContinuousClock.Instant?) -> Bool {
            kernel.run(
                memory, operands: UnsafeBufferPointer(rebasing: all[operands]), into: memory.arena + output,
                count: count, deadline: deadline)
        }

        /// The `count` elements computed into a new array, or `nil` (having stopped) when `deadline` passed.
        func result(
            _ memory: Memory, operands all: UnsafeBufferPointer<Int>, deadline: ContinuousClock.Instant?
        ) -> [Double]? {
            let operands = UnsafeBufferPointer(rebasing: all[operands])
            var finished = true
            let data = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                guard let out = buffer.baseAddress else { return }
                finished = kernel.run(memory, operands: operands, into: out, count: count, deadline: deadline)
                initialized = finished ? count : 0
            }
            return finished ? data : nil
        }
    }

    /// The nodes computed once, then those computed per row.
    let once: [Instruction]
    let repeated: [Instruction]
    /// The `Memory` addresses every instruction reads, end to end (`Instruction.operands`): one
    /// list for the evaluation rather than one per node to allocate and free.
    let operands: [Int]
    /// The arena's size in elements.
    let size: Int
    /// The input slots read in place, in the order of their `Memory.inputs`.
    let inputsInPlace: [Int]
    /// Where the other given input values are copied before anything runs.
    let inputs: [(slot: Int, offset: Int)]
    let constants: [(value: Tensor, offset: Int)]
    let literals: [(value: Double, offset: Int)]
    /// Where each seed slot's value is copied per row (`nil`: nothing reads it).
    let seeds: [Int?]
    /// Where the fixed and per-row targets are once computed (`Memory` addresses), `nil` for those
    /// their instruction writes directly.
    let fixed: [Int?]
    let perRow: [Int?]
}

/// Where a compiled evaluation's values are during one call: the arena, and the storage of the
/// inputs read in place.
struct Memory {
    let arena: UnsafeMutablePointer<Double>
    let inputs: UnsafeBufferPointer<UnsafePointer<Double>>

    /// The value at `address`: an offset in the arena when non-negative, else input `~address`.
    @inline(__always)
    subscript(address: Int) -> UnsafePointer<Double> {
        address >= 0 ? UnsafePointer(arena + address) : inputs[~address]
    }
}

extension Program {
    /// Compiles the slots of `once`, then of `repeated` (each in dependency order), for the targets
    /// `fixed` (known after `once`) and `perRow` (after each run of `repeated`); `seedSlots` are set
    /// per row.
    ///
    /// A matrix product that reads the swap of the last two axes of a matrix reads that matrix
    /// directly with a transpose flag (BLAS's), and the swap is computed only when something else
    /// reads it.
    func compile(
        once: [Int], repeated: [Int], fixed: [Int], perRow: [Int], seedSlots: [Int]
    ) throws(AutodiffError) -> CompiledEvaluation {
        let order = once + repeated
        var isRepeated = [Bool](repeating: false, count: graph.slotCount)
        for slot in repeated { isRepeated[slot] = true }
        for slot in fixed where isRepeated[slot] {
            throw .internalError("fixed target \(graph.name(of: slot)) depends on the seeds")
        }

        // Each node's arguments, with transposes folded into the matrix products that read them,
        // and the last position that reads each slot (-1: none), in one pass. `readTwice` marks the
        // slots read by more than one position (a group can absorb only a value read once).
        var arguments = OrderArguments(graph.arguments, positions: order.count)
        // The transpose flags of each matrix product, by position.
        var transposes: [Int: (Bool, Bool)] = [:]
        var lastRead = [Int32](repeating: -1, count: graph.slotCount)
        var readTwice = [Bool](repeating: false, count: graph.slotCount)
        // Written through buffer pointers: an array written in a loop checks that it is not shared
        // on every write.
        lastRead.withUnsafeMutableBufferPointer { lastRead in
            readTwice.withUnsafeMutableBufferPointer { readTwice in
                for (index, slot) in order.enumerated() {
                    if graph.op(of: slot) == .matmul {
                        var args = graph.argumentList(of: slot)
                        var flags = (false, false)
                        if let source = swappedMatrix(args[0]) { (args[0], flags.0) = (.slot(source), true) }
                        if let source = swappedMatrix(args[1]) { (args[1], flags.1) = (.slot(source), true) }
                        arguments.append(changed: args)
                        transposes[index] = flags
                    } else {
                        arguments.append(graph.argumentRange(of: slot))
                    }
                    let position = Int32(index)
                    for k in arguments.range(index) {
                        guard case .slot(let arg) = arguments[k], lastRead[arg] != position else { continue }
                        if lastRead[arg] >= 0 { readTwice[arg] = true }
                        lastRead[arg] = position
                    }
                }
            }
        }
        // A node computed for one target, that no node reads, is written straight into the result
        // (a per-row target only when it is computed per row): `writtenAs` is the target's index, or -1.
        var targetCount = [Int32](repeating: 0, count: graph.slotCount)
        for slot in fixed { targetCount[slot] += 1 }
        for slot in perRow { targetCount[slot] += 1 }
        var writtenAs = [Int32](repeating: -1, count: graph.slotCount)
        for (targets, part) in [(fixed, false), (perRow, true)] {
            for (index, slot) in targets.enumerated()
            where lastRead[slot] < 0 && targetCount[slot] == 1 && elementCount(of: slot) > 0
                && isRepeated[slot] == part
            {
                if graph.op(of: slot) != nil { writtenAs[slot] = Int32(index) }
            }
        }
        // The largest inputs that are read are read in place.
        let isSeed = Set(seedSlots)
        var readInputs: [Int] = []
        for slot in 0..<graph.slotCount where lastRead[slot] >= 0 || targetCount[slot] > 0 {
            guard case .input = graph.definitions[slot], !isSeed.contains(slot), elementCount(of: slot) > 0 else {
                continue
            }
            readInputs.append(slot)
        }
        let inputsInPlace = Array(
            readInputs.sorted { elementCount(of: $0) > elementCount(of: $1) }.prefix(
                CompiledEvaluation.maxInputsInPlace))
        // Targets, and what `once` computes for the per-row part, are read "forever".
        let forever = Int32.max
        for slot in fixed { lastRead[slot] = forever }
        for slot in perRow { lastRead[slot] = forever }
        for slot in once where lastRead[slot] >= once.count { lastRead[slot] = forever }
        // A `sin` and a `cos` of one value (as a `sin` node and its backward rule have), neither a
        // target, are computed together by the first of them (`Kernel.sinCos`): `companion` is, for
        // the first, the slot of the second; `Companion.computed` for the second; else
        // `Companion.none`. `unpaired[2x]` is the first `sin` of `x` still without its `cos`,
        // `unpaired[2x + 1]` the first such `cos`.
        var companion = [Int32](repeating: Companion.none, count: graph.slotCount)
        var unpaired = [Int32](repeating: -1, count: 2 * graph.slotCount)
        for (index, slot) in order.enumerated() {
            guard let op = graph.op(of: slot), op == .sin || op == .cos,
                case .slot(let x) = arguments[arguments.range(index).lowerBound],
                lastRead[slot] >= 0, targetCount[slot] == 0
            else { continue }
            let (own, other) = op == .sin ? (2 * x, 2 * x + 1) : (2 * x + 1, 2 * x)
            if unpaired[other] >= 0 {
                companion[Int(unpaired[other])] = Int32(slot)
                companion[slot] = Companion.computed
                unpaired[other] = -1
            } else if unpaired[own] < 0 {
                unpaired[own] = Int32(slot)
            }
        }
        // Groups of elementwise nodes are computed by one instruction each, at their root (`Fusion`).
        let fusion = fusionPlan(
            order: order, onceCount: once.count, arguments: arguments, lastRead: &lastRead, readTwice: readTwice,
            forever: forever, targetCount: targetCount, companion: companion)

        var places = ValuePlaces(slotCount: graph.slotCount, seedSlots: seedSlots)
        for (index, slot) in inputsInPlace.enumerated() { places.location[slot] = ~index }
        // The shapes of one node's arguments, for picking its kernel (one list for every node), and
        // the scalar functions of the fused ops met so far (`fusedKernel`).
        var argumentShapes: [[Int]] = []
        var functions: [(op: Op, function: FusedSteps.Function)] = []

        // The slots whose places are free once each position has run, in the order they were
        // added: a list per position threaded through `nextReleased` (no array per position).
        var releases = ReleaseLists(positions: order.count, slots: graph.slotCount)
        // Instructions in order: those of `once` first, then those of `repeated`.
        var onceInstructions: [CompiledEvaluation.Instruction] = []
        var repeatedInstructions: [CompiledEvaluation.Instruction] = []
        var allOperands: [Int] = []
        allOperands.reserveCapacity(2 * order.count)
        onceInstructions.reserveCapacity(once.count)
        repeatedInstructions.reserveCapacity(repeated.count)
        for (index, slot) in order.enumerated() {
            // Places whose last reader is this node are free for the nodes after it.
            defer {
                var released = releases.first(index)
                while released >= 0 {
                    let offset = places.location[released]
                    if offset != ValuePlaces.unplaced { places.memory.give(offset, elementCount(of: released)) }
                    released = releases.next(released)
                }
            }
            guard let op = graph.op(of: slot) else {
                _ = places.place(slot, of: self)
                continue
            }
            // Nothing reads it (a swap read only by the products it was folded into), its companion
            // computed it, or the group of its reader computes it.
            if lastRead[slot] < 0 || companion[slot] == Companion.computed || fusion.absorbed[index] { continue }
            var kernel: Kernel
            let firstOperand = allOperands.count
            // A group's scratch area is held until its result has a place, then free for later nodes.
            var scratch: (offset: Int, size: Int)?
            if let group = fusion.group(at: index) {
                (kernel, scratch) = try fusedKernel(
                    group, order: order, arguments: arguments, places: &places, operands: &allOperands,
                    functions: &functions, argumentShapes: &argumentShapes)
            } else {
                guard let plan = plans[slot] else {
                    throw .internalError("node \"\(graph.name(of: slot))\" has no plan")
                }
                for k in arguments.range(index) { allOperands.append(places.operand(arguments[k], of: self)) }
                kernel = try self.kernel(
                    of: slot, op: op, plan: plan, arguments: arguments, arguments.range(index),
                    argumentShapes: &argumentShapes)
                if case .matmul(let matmul, _, _) = kernel, let (transposeA, transposeB) = transposes[index] {
                    kernel = .matmul(matmul, transposeA: transposeA, transposeB: transposeB)
                }
            }
            let count = elementCount(of: slot)
            let output: Int
            if writtenAs[slot] >= 0 {
                output = 0
            } else if lastRead[slot] == forever {
                output = places.memory.permanent(count)
                places.location[slot] = output
            } else {
                output = places.memory.take(count)
                places.location[slot] = output
                releases.append(slot, at: Swift.max(index, Int(lastRead[slot])))
            }
            if let scratch { places.memory.give(scratch.offset, scratch.size) }
            if companion[slot] >= 0 {
                let second = Int(companion[slot])
                kernel = .sinCos(cosineFirst: op == .cos)
                let place: Int
                if lastRead[second] == forever {
                    place = places.memory.permanent(count)
                } else {
                    place = places.memory.take(count)
                    releases.append(second, at: Int(lastRead[second]))
                }
                places.location[second] = place
                allOperands.append(place)
            }
            let instruction = CompiledEvaluation.Instruction(
                slot: slot, kernel: kernel, operands: firstOperand..<allOperands.count, output: output, count: count,
                result: writtenAs[slot] < 0 ? nil : Int(writtenAs[slot]))
            if index < once.count {
                onceInstructions.append(instruction)
            } else {
                repeatedInstructions.append(instruction)
            }
        }
        var targets: [Int?] = []
        targets.reserveCapacity(fixed.count + perRow.count)
        for slot in fixed + perRow { targets.append(writtenAs[slot] < 0 ? places.place(slot, of: self) : nil) }
        return CompiledEvaluation(
            once: onceInstructions, repeated: repeatedInstructions, operands: allOperands, size: places.memory.size,
            inputsInPlace: inputsInPlace, inputs: places.inputs, constants: places.constants,
            literals: places.literals,
            seeds: seedSlots.map { places.location[$0] == ValuePlaces.unplaced ? nil : places.location[$0] },
            fixed: Array(targets[..<fixed.count]), perRow: Array(targets[fixed.count...]))
    }

    /// The slot whose last two axes `arg` swaps, when it is such a transpose.
    private func swappedMatrix(_ arg: Graph.Arg) -> Int? {
        guard case .slot(let slot) = arg, graph.op(of: slot) == .transpose,
            case .transpose(let perm)? = plans[slot]?.layout, perm.count >= 2,
            case .slot(let source) = graph.arguments[graph.argumentRange(of: slot).lowerBound]
        else { return nil }
        let rank = perm.count
        for axis in 0..<(rank - 2) where perm[axis] != axis { return nil }
        return perm[rank - 2] == rank - 1 && perm[rank - 1] == rank - 2 ? source : nil
    }
}

extension Program {
    /// The kernel of the node `slot` (of `op` and `plan`, reading `arguments` at `args`).
    /// `argumentShapes` is room for the arguments' shapes: one list for every node of a compilation.
    func kernel(
        of slot: Int, op: Op, plan: Plan, arguments: OrderArguments, _ args: Range<Int>,
        argumentShapes: inout [[Int]]
    ) throws(AutodiffError) -> Kernel {
        // Emptied one by one: `removeAll(keepingCapacity:)` goes through the general
        // `replaceSubrange`, most of the cost of this list for a node of one or two arguments.
        while argumentShapes.popLast() != nil {}
        for k in args { argumentShapes.append(shape(arguments[k])) }
        let attrs = op.attributes.isEmpty ? Attributes() : graph.attributes(of: slot)
        return try op.kernel(plan: plan, attrs: attrs, args: argumentShapes)
    }
}

/// The arguments of each position of an evaluation order: a node's own, read in place in the
/// graph's array of every node's arguments (none copied), or the changed ones of a matrix product
/// that reads a transpose's source instead (kept after them, at indices from `graph.count` on).
struct OrderArguments {
    private let graph: [Graph.Arg]
    private var changed: [Graph.Arg] = []
    /// Where each position's arguments are, for `subscript`.
    private var ranges: [Range<Int>] = []

    init(_ graph: [Graph.Arg], positions: Int) {
        self.graph = graph
        ranges.reserveCapacity(positions)
    }

    /// Adds the next position, whose arguments are the graph's at `args`.
    mutating func append(_ args: Range<Int>) {
        ranges.append(args)
    }

    /// Adds the next position, with arguments of its own.
    mutating func append(changed args: [Graph.Arg]) {
        let start = graph.count + changed.count
        for arg in args { changed.append(arg) }
        ranges.append(start..<(start + args.count))
    }

    /// Where the arguments of `position` are, for `subscript`.
    func range(_ position: Int) -> Range<Int> { ranges[position] }

    subscript(index: Int) -> Graph.Arg { index < graph.count ? graph[index] : changed[index - graph.count] }
}

/// What `compile`'s `companion` holds for a slot that is not the first of a `sin`/`cos` pair.
enum Companion {
    /// Not a half of a pair.
    static let none: Int32 = -1
    /// The second of a pair: computed by the first.
    static let computed: Int32 = -2
}

/// For each position of an evaluation order, the slots released after it, in the order added.
private struct ReleaseLists {
    private var head: [Int32]
    private var tail: [Int32]
    /// The slot added after each slot at the same position, or -1. A slot is added at most once.
    private var following: [Int32]

    init(positions: Int, slots: Int) {
        head = [Int32](repeating: -1, count: positions)
        tail = [Int32](repeating: -1, count: positions)
        following = [Int32](repeating: -1, count: slots)
    }

    mutating func append(_ slot: Int, at position: Int) {
        if tail[position] < 0 {
            head[position] = Int32(slot)
        } else {
            following[Int(tail[position])] = Int32(slot)
        }
        tail[position] = Int32(slot)
    }

    /// The first slot released after `position`, or -1.
    func first(_ position: Int) -> Int { Int(head[position]) }

    /// The slot released after `slot` at the same position, or -1.
    func next(_ slot: Int) -> Int { Int(following[slot]) }
}

/// Where the values of an evaluation being compiled are: the arena's layout, each slot's `Memory`
/// address once it has one, and the values copied into the arena before anything runs. (A struct
/// whose methods the compiler passes `inout`: functions nested in `compile` that captured these as
/// mutable locals cost a dynamic exclusivity check per access.)
struct ValuePlaces {
    /// The `location` of a value with no place yet (no address is this low: inputs read in place
    /// are `~index` for at most `CompiledEvaluation.maxInputsInPlace` of them).
    static let unplaced = Int.min

    var memory = ArenaLayout()
    /// Each value's `Memory` address, once it has one (`unplaced` until then).
    var location: [Int]
    private(set) var inputs: [(slot: Int, offset: Int)] = []
    private(set) var constants: [(value: Tensor, offset: Int)] = []
    private(set) var literals: [(value: Double, offset: Int)] = []
    private var literalOffsets: [UInt64: Int] = [:]
    private let isSeed: [Bool]

    init(slotCount: Int, seedSlots: [Int]) {
        location = [Int](repeating: ValuePlaces.unplaced, count: slotCount)
        var isSeed = [Bool](repeating: false, count: slotCount)
        for slot in seedSlots { isSeed[slot] = true }
        self.isSeed = isSeed
    }

    /// The place of a value of `program` that is not computed by a node: given once, kept for the whole call.
    mutating func place(_ slot: Int, of program: Program) -> Int {
        if location[slot] != ValuePlaces.unplaced { return location[slot] }
        let offset = memory.permanent(program.elementCount(of: slot))
        location[slot] = offset
        switch program.graph.definitions[slot] {
        case .input: if !isSeed[slot] { inputs.append((slot, offset)) }
        case .constant(let index): constants.append((program.graph.constants[index], offset))
        case .node: break
        }
        return offset
    }

    /// The `Memory` address of an argument of a node of `program`.
    mutating func operand(_ arg: Graph.Arg, of program: Program) -> Int {
        switch arg {
        case .slot(let slot): return place(slot, of: program)
        case .literal(let value):
            if let offset = literalOffsets[value.bitPattern] { return offset }
            let offset = memory.permanent(1)
            literalOffsets[value.bitPattern] = offset
            literals.append((value, offset))
            return offset
        }
    }
}

/// Places in an arena: permanent ones, and ones taken and given back by size. A place given back
/// is handed out again, the last given back first, only for a value of its size.
struct ArenaLayout {
    private(set) var size = 0
    /// The free places of each size, in the order given back: `freeLists[list[count]]`.
    private var list: [Int: Int] = [:]
    private var freeLists: [[Int]] = []
    /// The size last taken or given back, and its list: most values of a graph have one of a few
    /// sizes, so most calls need no hash lookup.
    private var lastCount = -1
    private var lastList = -1

    /// A place of `count` elements that is never given back.
    mutating func permanent(_ count: Int) -> Int {
        let offset = size
        size = size.addingClamped(count)
        return offset
    }

    /// A free place of `count` elements, or a new one.
    mutating func take(_ count: Int) -> Int {
        let index = freeList(count)
        if let offset = freeLists[index].popLast() { return offset }
        return permanent(count)
    }

    mutating func give(_ offset: Int, _ count: Int) {
        freeLists[freeList(count)].append(offset)
    }

    /// The index in `freeLists` of the free places of `count` elements, made when there is none yet.
    private mutating func freeList(_ count: Int) -> Int {
        if count == lastCount { return lastList }
        let index: Int
        if let known = list[count] {
            index = known
        } else {
            index = freeLists.count
            list[count] = index
            freeLists.append([])
        }
        (lastCount, lastList) = (count, index)
        return index
    }
}
