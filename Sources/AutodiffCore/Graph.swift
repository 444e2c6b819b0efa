/// A validated graph: names resolved to value slots, ops and attributes checked, every slot after
/// the slots it reads (topological order). Shapes are not known yet; they come with each call's values.
///
/// A user graph's slots are its inputs, then its constants (sorted by name), then its nodes in order.
/// Differentiation appends nodes and, for seeds, inputs.
public struct Graph: Sendable {
    /// Input names in the order clients list them.
    public private(set) var inputs: [String]
    /// What each slot is. Nothing here holds an array or an object, so a pass that reads a slot's
    /// definition retains nothing, and the list is freed without visiting its elements.
    private(set) var definitions: [Definition]
    /// Every node's arguments, slot after slot: slot `s`'s are `arguments[argumentStart[s]..<argumentStart[s + 1]]`
    /// (none for an input or a constant). One array for the whole graph rather than one per node
    /// to allocate, retain in every pass that reads it, and free.
    private(set) var arguments: [Arg]
    private var argumentStart: [Int]
    /// The values of the constants (`Definition.constant`) and the attributes of the nodes that have
    /// any (`Definition.node`), by index.
    private(set) var constants: [Tensor]
    private var attributeTable: [Attributes]
    /// The name of every slot below `firstUnnamed`, and the inverse map. The nodes added by
    /// differentiation after those are not named yet: `unnamed` holds the names they prefer, not
    /// made unique, as prefix and number, and they are not in `slots`. Most calls never need their
    /// names: a hash-table insert per added node was the largest part of a large fresh call's growth
    /// with size, and spelling each name out a few per cent of its time. `name(of:)` and `spec` give
    /// their final names.
    private var names: [String]
    private(set) var slots: [String: Int]
    private var unnamed: [GeneratedName]
    private var firstUnnamed: Int { names.count }
    /// What the graph computes, as a digest for `PlanCache` keys; `nil` once differentiation grew it.
    private(set) var fingerprint: Fingerprint?

    enum Definition: Sendable {
        case input
        /// A constant, its value at `constants[index]`.
        case constant(index: Int)
        /// An application of `op`, its attributes at `attributeTable[attributes]` (-1: none).
        case node(Op, attributes: Int)
    }

    /// A node's argument: an earlier slot or a scalar literal.
    enum Arg: Sendable, Equatable {
        case slot(Int)
        case literal(Double)
    }

    /// A name a node added by differentiation prefers: `prefix` followed by `number` (`grad12`).
    struct GeneratedName: Sendable {
        let prefix: String
        let number: Int

        var text: String { "\(prefix)\(number)" }
    }

    var slotCount: Int { definitions.count }

    /// Where the arguments of `slot` are in `arguments` (empty for an input or a constant).
    func argumentRange(of slot: Int) -> Range<Int> { argumentStart[slot]..<argumentStart[slot + 1] }

    /// The arguments of `slot` in a list of their own.
    func argumentList(of slot: Int) -> [Arg] { Array(arguments[argumentRange(of: slot)]) }

    /// The op of `slot`, or `nil` for an input or a constant.
    func op(of slot: Int) -> Op? {
        if case .node(let op, _) = definitions[slot] { return op }
        return nil
    }

    /// The attributes of `slot` (none for an input, a constant or a node without any).
    func attributes(of slot: Int) -> Attributes {
        if case .node(_, let index) = definitions[slot], index >= 0 { return attributeTable[index] }
        return Attributes()
    }

    /// The slot of input `name`, or `nil` when `name` is not an input of the graph.
    func inputSlot(_ name: String) -> Int? {
        guard let slot = slots[name], case .input = definitions[slot] else { return nil }
        return slot
    }

    /// The name of `slot`: for a node added by differentiation, as `spec` gives it (worked out
    /// over every node added before it until `nameAddedNodes()` runs).
    func name(of slot: Int) -> String {
        slot < firstUnnamed ? names[slot] : unnamedNames(through: slot)[slot - firstUnnamed]
    }

    /// Validates `spec`: unique names, known ops, arity, attribute names and kinds, resolvable
    /// arguments and no cycle. Iterative throughout, so a 100 000-node chain is fine.
    public init(_ spec: GraphSpec, limits: Limits = Limits()) throws(AutodiffError) {
        guard spec.nodes.count <= limits.maxNodes else {
            throw .limitExceeded("the graph has \(spec.nodes.count) nodes; the limit is \(limits.maxNodes)")
        }
        try limits.checkNames(spec.inputs.count, "graph.inputs")
        try limits.checkNames(spec.constants.count, "graph.constants")
        let constants = spec.constants.sorted { $0.key < $1.key }
        let slotCount = spec.inputs.count + constants.count + spec.nodes.count
        var slots: [String: Int] = [:]
        var names: [String] = []
        slots.reserveCapacity(slotCount)
        names.reserveCapacity(slotCount)
        for name in spec.inputs + constants.map(\.key) + spec.nodes.map(\.id) {
            guard slots.updateValue(names.count, forKey: name) == nil else { throw .duplicateName(name) }
            names.append(name)
        }
        var definitions = [Definition](repeating: .input, count: spec.inputs.count)
        definitions.reserveCapacity(slotCount)
        var constantValues: [Tensor] = []
        constantValues.reserveCapacity(constants.count)
        for (name, value) in constants {
            try limits.checkSize(value.shape, what: "constant \"\(name)\"", node: name)
            definitions.append(.constant(index: constantValues.count))
            constantValues.append(value)
        }

        // Parse every node, then order them (Kahn's algorithm) and renumber their slots. Node `i`'s
        // arguments are `parsedArguments[parsedStart[i]..<parsedStart[i + 1]]`.
        let firstNodeSlot = definitions.count
        var ops: [Op] = []
        var attributeIndices: [Int] = []
        var attributeTable: [Attributes] = []
        var parsedArguments: [Arg] = []
        var parsedStart = [0]
        ops.reserveCapacity(spec.nodes.count)
        attributeIndices.reserveCapacity(spec.nodes.count)
        parsedArguments.reserveCapacity(2 * spec.nodes.count)
        parsedStart.reserveCapacity(spec.nodes.count + 1)
        for node in spec.nodes {
            guard let op = Self.ops[node.op] else { throw .unknownOp(node: node.id, op: node.op) }
            guard op.arity.accepts(node.args.count) else {
                throw .arity(node: node.id, op: op.rawValue, expected: op.arity.text, got: node.args.count)
            }
            guard node.args.count <= limits.maxArgs else {
                throw .limitExceeded(
                    "node \"\(node.id)\" has \(node.args.count) arguments; the limit is \(limits.maxArgs)", node: node.id)
            }
            let attrs = try Attributes(validating: node.attrs, op: op, node: node.id)
            for arg in node.args {
                switch arg {
                case .number(let x):
                    parsedArguments.append(.literal(x))
                case .name(let name):
                    guard let slot = slots[name] else { throw .unknownName(node: node.id, name: name) }
                    parsedArguments.append(.slot(slot))
                }
            }
            parsedStart.append(parsedArguments.count)
            ops.append(op)
            if attrs.values.isEmpty {
                attributeIndices.append(-1)
            } else {
                attributeIndices.append(attributeTable.count)
                attributeTable.append(attrs)
            }
        }
        let order = try Self.topologicalOrder(
            parsedArguments, start: parsedStart, ids: spec.nodes.map(\.id), firstNodeSlot: firstNodeSlot)
        var arguments: [Arg]
        var argumentStart = [Int](repeating: 0, count: firstNodeSlot)
        argumentStart.reserveCapacity(slotCount + 1)
        if order.elementsEqual(ops.indices) {
            // Listed in an order that needs no change (a chain, say): slots, arguments and names stand.
            for index in ops.indices { definitions.append(.node(ops[index], attributes: attributeIndices[index])) }
            arguments = parsedArguments
            argumentStart.append(contentsOf: parsedStart)
        } else {
            var renumbered = [Int](0..<(firstNodeSlot + ops.count))
            for (position, index) in order.enumerated() {
                renumbered[firstNodeSlot + index] = firstNodeSlot + position
            }
            arguments = []
            arguments.reserveCapacity(parsedArguments.count)
            argumentStart.append(0)
            for index in order {
                for arg in parsedArguments[parsedStart[index]..<parsedStart[index + 1]] {
                    if case .slot(let slot) = arg {
                        arguments.append(.slot(renumbered[slot]))
                    } else {
                        arguments.append(arg)
                    }
                }
                argumentStart.append(arguments.count)
                definitions.append(.node(ops[index], attributes: attributeIndices[index]))
                names[renumbered[firstNodeSlot + index]] = spec.nodes[index].id
            }
            for (slot, name) in names.enumerated() { slots[name] = slot }
        }

        self.inputs = spec.inputs
        self.definitions = definitions
        self.arguments = arguments
        self.argumentStart = argumentStart
        self.constants = constantValues
        self.attributeTable = attributeTable
        self.names = names
        self.slots = slots
        self.unnamed = []
        self.fingerprint = Fingerprint(self)
    }

    /// Every op by its name, for one hash lookup per node instead of `Op(rawValue:)`'s comparison
    /// with each name in turn.
    private static let ops = Dictionary(uniqueKeysWithValues: Op.allCases.map { ($0.rawValue, $0) })

    /// Node indices in dependency order, or the `cycle` error naming a node on a cycle.
    /// Node `i`'s arguments are `arguments[start[i]..<start[i + 1]]`.
    private static func topologicalOrder(
        _ arguments: [Arg], start: [Int], ids: [String], firstNodeSlot: Int
    ) throws(AutodiffError) -> [Int] {
        let nodeCount = start.count - 1
        var pending = [Int](repeating: 0, count: nodeCount)
        // Node i's users, ascending, are users[userStart[i]..<userStart[i + 1]]: one array for all.
        var userStart = [Int](repeating: 0, count: nodeCount + 1)
        // By index: a loop over a slice of `arguments` would retain and release it per node.
        for index in 0..<nodeCount {
            for k in start[index]..<start[index + 1] {
                guard case .slot(let slot) = arguments[k], slot >= firstNodeSlot else { continue }
                pending[index] += 1
                userStart[slot - firstNodeSlot + 1] += 1
            }
        }
        for index in 0..<nodeCount { userStart[index + 1] += userStart[index] }
        var users = [Int](repeating: 0, count: userStart[nodeCount])
        var filled = userStart
        for index in 0..<nodeCount {
            for k in start[index]..<start[index + 1] {
                guard case .slot(let slot) = arguments[k], slot >= firstNodeSlot else { continue }
                users[filled[slot - firstNodeSlot]] = index
                filled[slot - firstNodeSlot] += 1
            }
        }
        var ready = (0..<nodeCount).filter { pending[$0] == 0 }
        var cursor = 0
        while cursor < ready.count {
            let node = ready[cursor]
            for k in userStart[node]..<userStart[node + 1] {
                let user = users[k]
                pending[user] -= 1
                if pending[user] == 0 { ready.append(user) }
            }
            cursor += 1
        }
        guard ready.count < nodeCount, var current = pending.firstIndex(where: { $0 > 0 }) else { return ready }
        // Every unordered node waits on another unordered one, so following those edges must repeat.
        var seen = Set<Int>()
        while seen.insert(current).inserted {
            for case .slot(let slot) in arguments[start[current]..<start[current + 1]]
            where slot >= firstNodeSlot && pending[slot - firstNodeSlot] > 0 {
                current = slot - firstNodeSlot
                break
            }
        }
        throw .cycle(node: ids[current])
    }

    /// The graph in its client form, nodes in topological order.
    public var spec: GraphSpec { spec { _ in true } }

    /// The client form with every input but only the constants and nodes whose slot is `included`.
    func spec(including included: (Int) -> Bool) -> GraphSpec {
        var names = names
        if !unnamed.isEmpty { names.append(contentsOf: unnamedNames(through: slotCount - 1)) }
        var spec = GraphSpec(inputs: inputs, nodes: [])
        for (slot, definition) in definitions.enumerated() where included(slot) {
            switch definition {
            case .input:
                break
            case .constant(let index):
                spec.constants[names[slot]] = constants[index]
            case .node(let op, _):
                let args = arguments[argumentRange(of: slot)].map { arg -> ArgumentSpec in
                    switch arg {
                    case .slot(let slot): .name(names[slot])
                    case .literal(let x): .number(x)
                    }
                }
                spec.nodes.append(
                    NodeSpec(id: names[slot], op: op.rawValue, args: args, attrs: attributes(of: slot).values))
            }
        }
        return spec
    }

    // MARK: Growing the graph (differentiation)

    /// Appends a node named `preferred`, or that with a suffix if taken (decided when its name is
    /// first needed, exactly as if it were decided now). Returns its slot.
    mutating func appendNode(_ op: Op, _ args: [Arg], _ attrs: Attributes, preferred: GeneratedName) -> Int {
        fingerprint = nil
        if attrs.values.isEmpty {
            definitions.append(.node(op, attributes: -1))
        } else {
            definitions.append(.node(op, attributes: attributeTable.count))
            attributeTable.append(attrs)
        }
        // One by one: `append(contentsOf:)` is generic code, slower for the one or two of a node.
        for arg in args { arguments.append(arg) }
        argumentStart.append(arguments.count)
        unnamed.append(preferred)
        return definitions.count - 1
    }

    /// Appends an input named `preferredName`, or that with a suffix if taken. Returns its slot.
    mutating func appendInput(preferredName: String) -> Int {
        fingerprint = nil
        // Names are decided in slot order, so every node before the input gets its own first.
        nameAddedNodes()
        let slot = definitions.count
        definitions.append(.input)
        argumentStart.append(arguments.count)
        names.append(claimName(preferredName, for: slot))
        inputs.append(names[slot])
        return slot
    }

    /// Decides the names of the nodes added since the last time, in slot order.
    mutating func nameAddedNodes() {
        for preferred in unnamed { names.append(claimName(preferred.text, for: names.count)) }
        unnamed.removeAll()
    }

    /// `preferred`, or that with the first suffix `_1`, `_2`, … that no slot has, entered in `slots`
    /// for `slot`. One lookup when the name is free (the usual case): a taken name's slot is put back.
    private mutating func claimName(_ preferred: String, for slot: Int) -> String {
        var name = preferred
        var suffix = 1
        while let taken = slots.updateValue(slot, forKey: name) {
            slots[name] = taken
            name = "\(preferred)_\(suffix)"
            suffix += 1
        }
        return name
    }

    /// The names of the nodes from `firstUnnamed` through `last`, each made unique in slot order as
    /// `claimName` would, without entering them in `slots`.
    private func unnamedNames(through last: Int) -> [String] {
        var claimed = Set<String>()
        var result: [String] = []
        for slot in firstUnnamed...last {
            let preferred = unnamed[slot - firstUnnamed].text
            var name = preferred
            var suffix = 1
            while slots[name] != nil || claimed.contains(name) {
                name = "\(preferred)_\(suffix)"
                suffix += 1
            }
            claimed.insert(name)
            result.append(name)
        }
        return result
    }

    /// Makes room for `count` more slots.
    mutating func reserveCapacity(adding count: Int) {
        definitions.reserveCapacity(definitions.count + count)
        argumentStart.reserveCapacity(argumentStart.count + count)
        arguments.reserveCapacity(arguments.count + 2 * count)
        unnamed.reserveCapacity(unnamed.count + count)
    }
}
