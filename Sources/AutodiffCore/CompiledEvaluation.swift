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

    /// One node: its kernel reads `operands` (`Memory` addresses) and writes `count` elements at
    /// `output` in the arena or, with a `result`, into a new array: that target's value.
    ///
    /// A class, not a struct: a kernel writes through pointers, so around each call Swift copied a
    /// struct instruction read from an array, retaining and releasing its kernel's and operands'
    /// arrays (three to five atomic operations per node); an object's `let`s are read in place.
    final class Instruction: Sendable {
        let slot: Int
        let kernel: Kernel
        let operands: [Int]
        let output: Int
        let count: Int
        /// The index of the target (in `fixed` or `perRow`) this node writes directly.
        let result: Int?

        init(slot: Int, kernel: Kernel, operands: [Int], output: Int, count: Int, result: Int?) {
            self.slot = slot
            self.kernel = kernel
            self.operands = operands
            self.output = output
            self.count = count
            self.result = result
        }

        /// False (having stopped) when `deadline` passed.
        @inline(__always)
        func run(_ memory: Memory, deadline: ContinuousClock.Instant?) -> Bool {
            kernel.run(memory, operands: operands, into: memory.arena + output, count: count, deadline: deadline)
        }

        /// The `count` elements computed into a new array, or `nil` (having stopped) when `deadline` passed.
        func result(_ memory: Memory, deadline: ContinuousClock.Instant?) -> [Double]? {
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
        var position = [Int](repeating: -1, count: graph.slotCount)
        for (index, slot) in order.enumerated() { position[slot] = index }
        let isRepeated = { [position] (slot: Int) in position[slot] >= once.count }
        for slot in fixed where isRepeated(slot) {
            throw .internalError("fixed target \(graph.name(of: slot)) depends on the seeds")
        }

        // Each node's arguments, with transposes folded into the matrix products that read them.
        var ops: [Op?] = []
        var arguments: [[Graph.Arg]] = []
        var transposes: [(Bool, Bool)] = []
        ops.reserveCapacity(order.count)
        arguments.reserveCapacity(order.count)
        transposes.reserveCapacity(order.count)
        for slot in order {
            guard case .node(let node) = graph.definitions[slot] else {
                ops.append(nil)
                arguments.append([])
                transposes.append((false, false))
                continue
            }
            ops.append(node.op)
            var args = node.args
            var flags = [false, false]
            if node.op == .matmul {
                for side in 0..<2 {
                    guard let source = swappedMatrix(args[side]) else { continue }
                    args[side] = .slot(source)
                    flags[side] = true
                }
            }
            arguments.append(args)
            transposes.append((flags[0], flags[1]))
        }

        // The last position that reads each slot.
        var lastRead = [Int](repeating: -1, count: graph.slotCount)
        for (index, args) in arguments.enumerated() {
            for case .slot(let arg) in args { lastRead[arg] = index }
        }
        // A node computed for one target, that no node reads, is written straight into the result
        // (a per-row target only when it is computed per row).
        var targetCount = [Int](repeating: 0, count: graph.slotCount)
        for slot in fixed + perRow { targetCount[slot] += 1 }
        var writtenAs = [Int?](repeating: nil, count: graph.slotCount)
        for (targets, part) in [(fixed, false), (perRow, true)] {
            for (index, slot) in targets.enumerated()
            where lastRead[slot] < 0 && targetCount[slot] == 1 && Shape.count(shapes[slot]) > 0
                && isRepeated(slot) == part
            {
                if case .node = graph.definitions[slot] { writtenAs[slot] = index }
            }
        }
        // The largest inputs that are read are read in place.
        let isSeed = Set(seedSlots)
        var readInputs: [Int] = []
        for slot in 0..<graph.slotCount where lastRead[slot] >= 0 || targetCount[slot] > 0 {
            guard case .input = graph.definitions[slot], !isSeed.contains(slot), Shape.count(shapes[slot]) > 0 else {
                continue
            }
            readInputs.append(slot)
        }
        let inputsInPlace = Array(
            readInputs.sorted { Shape.count(shapes[$0]) > Shape.count(shapes[$1]) }.prefix(
                CompiledEvaluation.maxInputsInPlace))
        // Targets, and what `once` computes for the per-row part, are read "forever".
        let forever = Int.max
        for slot in fixed + perRow { lastRead[slot] = forever }
        for slot in once where lastRead[slot] >= once.count { lastRead[slot] = forever }
        // A `sin` and a `cos` of one value (as a `sin` node and its backward rule have), neither a
        // target, are computed together by the first of them (`Kernel.sinCos`).
        var companion = [Int?](repeating: nil, count: graph.slotCount)
        var computedWithCompanion = [Bool](repeating: false, count: graph.slotCount)
        var unpaired: [Int: Int] = [:]
        for (index, slot) in order.enumerated() {
            guard let op = ops[index], op == .sin || op == .cos, case .slot(let x) = arguments[index][0],
                lastRead[slot] >= 0, targetCount[slot] == 0
            else { continue }
            let (own, other) = op == .sin ? (2 * x, 2 * x + 1) : (2 * x + 1, 2 * x)
            if let first = unpaired.removeValue(forKey: other) {
                companion[first] = slot
                computedWithCompanion[slot] = true
            } else if unpaired[own] == nil {
                unpaired[own] = slot
            }
        }
        // Groups of elementwise nodes are computed by one instruction each, at their root (`Fusion`).
        let fusion = fusionPlan(
            order: order, onceCount: once.count, arguments: arguments, lastRead: &lastRead, forever: forever,
            targetCount: targetCount, paired: { companion[$0] != nil || computedWithCompanion[$0] })

        var memory = ArenaLayout()
        // Each value's `Memory` address, once it has one.
        var location = [Int?](repeating: nil, count: graph.slotCount)
        for (index, slot) in inputsInPlace.enumerated() { location[slot] = ~index }
        var inputs: [(slot: Int, offset: Int)] = []
        var constants: [(value: Tensor, offset: Int)] = []
        var literals: [(value: Double, offset: Int)] = []
        var literalOffsets: [UInt64: Int] = [:]
        /// The place of a value that is not computed by a node: given once, kept for the whole call.
        func place(_ slot: Int) -> Int {
            if let address = location[slot] { return address }
            let offset = memory.permanent(Shape.count(shapes[slot]))
            location[slot] = offset
            switch graph.definitions[slot] {
            case .input: if !isSeed.contains(slot) { inputs.append((slot, offset)) }
            case .constant(let value): constants.append((value, offset))
            case .node: break
            }
            return offset
        }
        func operand(_ arg: Graph.Arg) -> Int {
            switch arg {
            case .slot(let slot): return place(slot)
            case .literal(let value):
                if let offset = literalOffsets[value.bitPattern] { return offset }
                let offset = memory.permanent(1)
                literalOffsets[value.bitPattern] = offset
                literals.append((value, offset))
                return offset
            }
        }

        // The slots whose places are free once each position has run, in the order they were
        // added: a list per position threaded through `nextReleased` (no array per position).
        var releases = ReleaseLists(positions: order.count, slots: graph.slotCount)
        // Instructions in order: those of `once` first, then those of `repeated`.
        var onceInstructions: [CompiledEvaluation.Instruction] = []
        var repeatedInstructions: [CompiledEvaluation.Instruction] = []
        onceInstructions.reserveCapacity(once.count)
        repeatedInstructions.reserveCapacity(repeated.count)
        for (index, slot) in order.enumerated() {
            // Places whose last reader is this node are free for the nodes after it.
            defer {
                var released = releases.first(index)
                while released >= 0 {
                    if let offset = location[released] { memory.give(offset, Shape.count(shapes[released])) }
                    released = releases.next(released)
                }
            }
            guard case .node(let node) = graph.definitions[slot] else {
                _ = place(slot)
                continue
            }
            // Nothing reads it (a swap read only by the products it was folded into), its companion
            // computed it, or the group of its reader computes it.
            if lastRead[slot] < 0 || computedWithCompanion[slot] || fusion.absorbed[index] { continue }
            guard let plan = plans[slot] else { throw .internalError("node \"\(graph.name(of: slot))\" has no plan") }
            let args = arguments[index]
            var kernel: Kernel
            var operands: [Int]
            // A group's scratch area is held until its result has a place, then free for later nodes.
            var scratch: (offset: Int, size: Int)?
            if let group = fusion.groups[index] {
                (kernel, operands) = try fusedKernel(
                    group, order: order, arguments: arguments, operand: operand
                ) { size in
                    let offset = memory.take(size)
                    scratch = (offset, size)
                    return offset
                }
            } else {
                kernel = try node.op.kernel(plan: plan, attrs: node.attrs, args: shapes(of: args))
                if case .matmul(let matmul, _, _) = kernel {
                    kernel = .matmul(matmul, transposeA: transposes[index].0, transposeB: transposes[index].1)
                }
                operands = args.map(operand)
            }
            let count = Shape.count(plan.shape)
            let output: Int
            if writtenAs[slot] != nil {
                output = 0
            } else if lastRead[slot] == forever {
                output = memory.permanent(count)
                location[slot] = output
            } else {
                output = memory.take(count)
                location[slot] = output
                releases.append(slot, at: Swift.max(index, lastRead[slot]))
            }
            if let scratch { memory.give(scratch.offset, scratch.size) }
            if let second = companion[slot] {
                kernel = .sinCos(cosineFirst: node.op == .cos)
                let place: Int
                if lastRead[second] == forever {
                    place = memory.permanent(count)
                } else {
                    place = memory.take(count)
                    releases.append(second, at: lastRead[second])
                }
                location[second] = place
                operands.append(place)
            }
            let instruction = CompiledEvaluation.Instruction(
                slot: slot, kernel: kernel, operands: operands, output: output, count: count, result: writtenAs[slot])
            if index < once.count {
                onceInstructions.append(instruction)
            } else {
                repeatedInstructions.append(instruction)
            }
        }
        let targets = (fixed + perRow).map { slot in writtenAs[slot] == nil ? place(slot) : nil }
        return CompiledEvaluation(
            once: onceInstructions, repeated: repeatedInstructions, size: memory.size,
            inputsInPlace: inputsInPlace, inputs: inputs, constants: constants, literals: literals,
            seeds: seedSlots.map { location[$0] }, fixed: Array(targets[..<fixed.count]),
            perRow: Array(targets[fixed.count...]))
    }

    /// The slot whose last two axes `arg` swaps, when it is such a transpose.
    private func swappedMatrix(_ arg: Graph.Arg) -> Int? {
        guard case .slot(let slot) = arg, case .node(let node) = graph.definitions[slot], node.op == .transpose,
            case .transpose(let perm)? = plans[slot]?.layout, perm.count >= 2, case .slot(let source) = node.args[0]
        else { return nil }
        let rank = perm.count
        for axis in 0..<(rank - 2) where perm[axis] != axis { return nil }
        return perm[rank - 2] == rank - 1 && perm[rank - 1] == rank - 2 ? source : nil
    }
}

/// For each position of an evaluation order, the slots released after it, in the order added.
private struct ReleaseLists {
    private var head: [Int]
    private var tail: [Int]
    /// The slot added after each slot at the same position, or -1. A slot is added at most once.
    private var following: [Int]

    init(positions: Int, slots: Int) {
        head = [Int](repeating: -1, count: positions)
        tail = [Int](repeating: -1, count: positions)
        following = [Int](repeating: -1, count: slots)
    }

    mutating func append(_ slot: Int, at position: Int) {
        if tail[position] < 0 {
            head[position] = slot
        } else {
            following[tail[position]] = slot
        }
        tail[position] = slot
    }

    /// The first slot released after `position`, or -1.
    func first(_ position: Int) -> Int { head[position] }

    /// The slot released after `slot` at the same position, or -1.
    func next(_ slot: Int) -> Int { following[slot] }
}

/// Places in an arena: permanent ones, and ones taken and given back by size.
private struct ArenaLayout {
    private(set) var size = 0
    private var free: [Int: [Int]] = [:]

    /// A place of `count` elements that is never given back.
    mutating func permanent(_ count: Int) -> Int {
        let offset = size
        size = size.addingClamped(count)
        return offset
    }

    /// A free place of `count` elements, or a new one.
    mutating func take(_ count: Int) -> Int {
        if let offset = free[count]?.popLast() { return offset }
        return permanent(count)
    }

    mutating func give(_ offset: Int, _ count: Int) {
        free[count, default: []].append(offset)
    }
}
