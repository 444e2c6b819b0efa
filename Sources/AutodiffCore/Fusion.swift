/// Fusing chains of elementwise nodes into one instruction of a compiled evaluation.
///
/// A node computed as a whole array per instruction makes one pass over memory per node: `g·x + x·g`
/// on arrays larger than the cache reads and writes each intermediate once more than it needs to. A
/// group of connected elementwise nodes is computed instead by one instruction, block by block of
/// `Fusion.blockSize` elements: each node of the group runs the same scalar loop as its own kernel
/// would (`Kernels.unary`, `Kernels.binary`), on one block, with the intermediates in a scratch area
/// that stays in the cache. Every value is therefore bit for bit the unfused one.
///
/// A node is computed inside the group of the one node that reads it (its reader) when both are
/// unary, or binary ops whose arguments have the result's element count or one element; when the
/// two have as many elements (more than none); when it is read by no other node, is no target and
/// no half of a `sin`/`cos` pair (`Kernel.sinCos`); and when both are computed in the same part
/// (once, or per row). The groups are trees whose root, the only value read outside, is the
/// instruction's result.
enum Fusion {
    /// Elements of each value a fused instruction computes at a time, so that the block of every
    /// intermediate stays in the first-level cache.
    static let blockSize = 512

    /// Whether `compile` fuses elementwise groups: off only where a test compares the unfused
    /// evaluation with the fused one.
    @TaskLocal static var isEnabled = true
}

/// The elementwise groups of one evaluation order: which node positions are computed inside the
/// group of a later node, and, by the position of its root, each group's positions.
struct FusionPlan {
    /// For each position, whether its node is computed inside the group of the node reading it.
    let absorbed: [Bool]
    /// The positions of every group of two nodes or more, group after group, each in order (its
    /// root last).
    let members: [Int]
    /// For each position that is a group's root, where its group is in `members` (empty otherwise).
    let groups: [Range<Int>]

    /// The positions of the group whose root is at `position`, if there is one.
    func group(at position: Int) -> ArraySlice<Int>? {
        groups.isEmpty || groups[position].isEmpty ? nil : members[groups[position]]
    }
}

/// The steps of a fused instruction, run block by block.
struct FusedSteps: Sendable {
    enum Function: Sendable {
        case unary(UnaryFunction)
        case binary(BinaryFunction)
    }

    /// One node of the group. An argument is a register (`>= 0`) of the scratch area or operand `~k`
    /// of the instruction; the step writes register `register`, or the instruction's result when it
    /// is -1.
    struct Step: Sendable {
        let function: Function
        let first: Int
        let second: Int
        let register: Int
    }

    let steps: [Step]
    /// For each operand of the instruction, whether it has one element, read for every element.
    let scalarOperands: [Bool]
    /// Elements per block (and per register).
    let block: Int
    /// The arena offset of the scratch area: a block per register, for each of `areas` threads.
    let scratch: Int
    /// Elements of one thread's scratch area.
    let areaSize: Int
    /// 2 when an idle worker may compute the second half of the elements (`Kernels.sharedElements`
    /// or more), with a scratch area of its own; else 1.
    let areas: Int

    /// Computes the `count` elements at `out`, block by block; false (having stopped) when
    /// `deadline` passed. With two `areas`, the second half (from a block's start, with scratch area
    /// 1) goes to an idle worker if there is one (`WorkSharing.shareHalves`); elements are
    /// independent, so the values do not depend on who computes them.
    func run(
        _ memory: Memory, operands: UnsafeBufferPointer<Int>, into out: UnsafeMutablePointer<Double>, count: Int,
        deadline: ContinuousClock.Instant?
    ) -> Bool {
        guard areas == 2 else {
            return run(0..<count, memory, operands: operands, into: out, area: 0, deadline: deadline)
        }
        // Spans of `partWork` steps per half, so a helping worker is free again within milliseconds.
        let span = 2 * WorkSharing.partWork / Swift.max(steps.count, 1)
        return WorkSharing.shareHalves(of: count, alignment: block, span: span, deadline: deadline) {
            range, half in
            run(range, memory, operands: operands, into: out, area: half, deadline: deadline)
        }
    }

    /// The elements `range` (from a block's start), with the scratch area `area`. The deadline is
    /// checked before a step once the steps run since the last check (or the start) would exceed
    /// `Kernels.elementsPerCheck` elements.
    private func run(
        _ range: Range<Int>, _ memory: Memory, operands: UnsafeBufferPointer<Int>,
        into out: UnsafeMutablePointer<Double>, area: Int, deadline: ContinuousClock.Instant?
    ) -> Bool {
        let registerBase = memory.arena + scratch + area * areaSize
        var sinceCheck = 0
        var start = range.lowerBound
        while start < range.upperBound {
            let length = Swift.min(block, range.upperBound - start)
            /// The block of argument `argument` and its element count (1 for a scalar operand).
            @inline(__always)
            func source(_ argument: Int) -> (UnsafePointer<Double>, Int) {
                if argument >= 0 { return (UnsafePointer(registerBase + argument * block), length) }
                let operand = ~argument
                let base = memory[operands[operand]]
                return scalarOperands[operand] ? (base, 1) : (base + start, length)
            }
            for index in steps.indices {
                sinceCheck += length
                if sinceCheck > Kernels.elementsPerCheck {
                    if Kernels.isPast(deadline) { return false }
                    sinceCheck = length
                }
                let step = steps[index]
                let target = step.register < 0 ? out + start : registerBase + step.register * block
                switch step.function {
                case .unary(let function):
                    _ = Kernels.unary(function, source(step.first).0, into: target, count: length, deadline: nil)
                case .binary(let function):
                    let (a, aCount) = source(step.first)
                    let (b, bCount) = source(step.second)
                    _ = Kernels.binary(
                        function, a, count: aCount, b, count: bCount, strides: [], shape: [], into: target,
                        count: length, deadline: nil)
                }
            }
            start += length
        }
        return true
    }
}

extension Program {
    /// The elementwise groups of `order` (`onceCount` positions computed once, then the per-row
    /// ones), given each position's `arguments` (transposes folded), the last position reading each
    /// slot (`forever` for kept values), the slots read by more than one position, each slot's count
    /// as a target, and the halves of `sin`/`cos` pairs (`companion` other than `Companion.none`).
    ///
    /// Every value a group reads from outside is then taken to be read at the group's root, where
    /// the group is computed: `lastRead` is moved there.
    func fusionPlan(
        order: [Int], onceCount: Int, arguments: OrderArguments, lastRead: inout [Int32], readTwice: [Bool],
        forever: Int32, targetCount: [Int32], companion: [Int32]
    ) -> FusionPlan {
        var absorbed = [Bool](repeating: false, count: order.count)
        guard Fusion.isEnabled else { return FusionPlan(absorbed: absorbed, members: [], groups: []) }
        // The position of the group root each position belongs to, found from the last position back,
        // and the number of positions each root's group absorbs. Whether a position is a node a group
        // can hold is found on the way (`fusible`): its only reader, if any, is after it.
        var fusible = [Bool](repeating: false, count: order.count)
        var root = [Int32](repeating: 0, count: order.count)
        var absorbedBy = [Int32](repeating: 0, count: order.count)
        for index in order.indices.reversed() {
            let slot = order[index]
            root[index] = Int32(index)
            guard lastRead[slot] >= 0, companion[slot] == Companion.none,
                isFusible(slot, arguments, arguments.range(index))
            else { continue }
            fusible[index] = true
            // The only position that reads it, unless that is past the part or its value is kept.
            let next = Int(lastRead[slot])
            guard !readTwice[slot], lastRead[slot] != forever, fusible[next], targetCount[slot] == 0,
                (index < onceCount) == (next < onceCount),
                elementCount(of: slot) == elementCount(of: order[next])
            else { continue }
            absorbed[index] = true
            root[index] = root[next]
            absorbedBy[Int(root[index])] += 1
        }
        // Each group's positions laid out in order, groups by their roots' positions; every value a
        // group reads from outside is then read at its root.
        var groups = [Range<Int>](repeating: 0..<0, count: order.count)
        var groupSize = 0
        for index in order.indices where absorbedBy[index] > 0 {
            let size = Int(absorbedBy[index]) + 1
            groups[index] = groupSize..<(groupSize + size)
            groupSize += size
        }
        var members = [Int](repeating: 0, count: groupSize)
        var filled = [Int32](repeating: 0, count: order.count)
        for index in order.indices where absorbed[index] || absorbedBy[index] > 0 {
            let top = Int(root[index])
            members[groups[top].lowerBound + Int(filled[top])] = index
            filled[top] += 1
            for k in arguments.range(index) {
                guard case .slot(let arg) = arguments[k], lastRead[arg] != forever, lastRead[arg] < top
                else { continue }
                lastRead[arg] = Int32(top)
            }
        }
        return FusionPlan(absorbed: absorbed, members: members, groups: groups)
    }

    /// Whether `slot` is a unary elementwise node or a binary one whose arguments (`arguments` at
    /// `args`) each have its element count or one element, of more than no elements. (Read through
    /// `plans` and element counts alone: only nodes have plans, and copying a definition or a shape
    /// out of the program retains what it holds, a large part of this pass's cost on a fresh plan.)
    private func isFusible(_ slot: Int, _ arguments: OrderArguments, _ args: Range<Int>) -> Bool {
        guard let plan = plans[slot] else { return false }
        let count = elementCount(of: slot)
        guard count > 0 else { return false }
        switch plan.layout {
        case .map:
            return true
        case .broadcast:
            guard args.count == 2 else { return false }
            for k in args {
                let elements = elementCount(of: arguments[k])
                guard elements == count || elements == 1 else { return false }
            }
            return true
        case .reduce, .matmul, .transpose, .copy, .concat, .slice, .axis:
            return false
        }
    }

    /// The kernel of the group of `positions` (its root last) of `order` (whose nodes' `arguments`
    /// are given by position), and its scratch area: the kernel's operands, appended to `operands`,
    /// are the `places` of the values it reads from outside, and the scratch area a place taken
    /// from `places.memory`. `functions` holds the scalar function of each op without attributes
    /// met so far (a graph repeats a few ops, and picking a node's kernel copies its plan's arrays),
    /// and `argumentShapes` is room for a node's argument shapes.
    func fusedKernel(
        _ positions: ArraySlice<Int>, order: [Int], arguments: OrderArguments,
        places: inout ValuePlaces, operands: inout [Int], functions: inout [(op: Op, function: FusedSteps.Function)],
        argumentShapes: inout [[Int]]
    ) throws(AutodiffError) -> (kernel: Kernel, scratch: (offset: Int, size: Int)) {
        let rootPosition = positions[positions.endIndex - 1]
        let count = elementCount(of: order[rootPosition])
        let block = Swift.min(Fusion.blockSize, count)
        // The member slots whose values are held, each with its register (few: a chain holds one),
        // and the free registers to reuse.
        var live: [(slot: Int, register: Int)] = []
        var freeRegisters: [Int] = []
        var registers = 0
        let firstOperand = operands.count
        var scalarOperands: [Bool] = []
        var steps: [FusedSteps.Step] = []
        steps.reserveCapacity(positions.count)
        scalarOperands.reserveCapacity(positions.count + 1)
        for index in positions {
            let slot = order[index]
            guard let op = graph.op(of: slot), plans[slot] != nil else {
                throw .internalError("fused node \"\(graph.name(of: slot))\" has no plan")
            }
            // Where each argument is read (a held intermediate's register, or a new operand), and
            // the intermediates read.
            var sources = (first: 0, second: 0)
            var read = (first: -1, second: -1)
            for (position, k) in arguments.range(index).enumerated() {
                let arg = arguments[k]
                let source: Int
                if case .slot(let s) = arg, let held = live.lastIndex(where: { $0.slot == s }) {
                    source = live[held].register
                    if position == 0 { read.first = s } else { read.second = s }
                } else {
                    source = ~(operands.count - firstOperand)
                    operands.append(places.operand(arg, of: self))
                    scalarOperands.append(count > 1 && elementCount(of: arg) == 1)
                }
                if position == 0 { sources = (source, source) } else { sources.second = source }
            }
            let output: Int
            if index == rootPosition {
                output = -1
            } else if let reused = freeRegisters.popLast() {
                output = reused
            } else {
                output = registers
                registers += 1
            }
            // An intermediate has one reader: its register is free once that reader ran. (The
            // held slots are distinct, so their order does not matter: the last takes a freed one's place.)
            var held = live.count - 1
            while held >= 0 {
                if live[held].slot == read.first || live[held].slot == read.second {
                    freeRegisters.append(live[held].register)
                    live[held] = live[live.count - 1]
                    live.removeLast()
                }
                held -= 1
            }
            if output >= 0 { live.append((slot, output)) }
            let function: FusedSteps.Function
            if op.attributes.isEmpty, let known = functions.first(where: { $0.op == op }) {
                function = known.function
            } else {
                function = try fusedFunction(
                    slot, op: op, arguments: arguments, arguments.range(index), argumentShapes: &argumentShapes)
                if op.attributes.isEmpty { functions.append((op, function)) }
            }
            steps.append(
                FusedSteps.Step(function: function, first: sources.first, second: sources.second, register: output))
        }
        // A group of `Kernels.sharedElements` or more may have its second half computed by an idle
        // worker, which needs a scratch area of its own.
        let (areaSize, areas) = (registers * block, count >= Kernels.sharedElements ? 2 : 1)
        let scratch = (offset: places.memory.take(areas * areaSize), size: areas * areaSize)
        let fused = FusedSteps(
            steps: steps, scalarOperands: scalarOperands, block: block, scratch: scratch.offset,
            areaSize: areaSize, areas: areas)
        return (.fused(fused), scratch)
    }

    /// The scalar function of the elementwise node `slot` (of `op`, reading `arguments` at `args`),
    /// from its kernel. `argumentShapes` is room for the arguments' shapes.
    private func fusedFunction(
        _ slot: Int, op: Op, arguments: OrderArguments, _ args: Range<Int>, argumentShapes: inout [[Int]]
    ) throws(AutodiffError) -> FusedSteps.Function {
        guard let plan = plans[slot] else { throw .internalError("fused node \"\(graph.name(of: slot))\" has no plan") }
        switch try kernel(of: slot, op: op, plan: plan, arguments: arguments, args, argumentShapes: &argumentShapes) {
        case .unary(let unary): return .unary(unary)
        case .binary(let binary, _, _, _, _): return .binary(binary)
        case .sinCos, .select, .reduce, .matmul, .gather, .copy, .concat, .unslice, .softmax, .fused:
            throw .internalError("node \"\(graph.name(of: slot))\" was fused but is not elementwise")
        }
    }
}
