/// A 128-bit digest of everything that decides what a graph computes: its input names, every
/// slot's name, op, arguments and attributes, and its constants, doubles by bit pattern (so `-0.0`
/// and `0.0`, or two NaN payloads, differ).
///
/// Two SipHash digests under the process's random key with different salts: equal fingerprints of
/// different graphs have a probability near 2⁻¹²⁸, and without the key no client can aim for one.
struct Fingerprint: Hashable, Sendable {
    let first: Int
    let second: Int

    init(_ graph: Graph) {
        var hasher = DualHasher()
        hasher.combine(graph.inputs.count)
        for name in graph.inputs { hasher.combine(name) }
        hasher.combine(graph.slotCount)
        for slot in 0..<graph.slotCount {
            hasher.combine(graph.name(of: slot))
            switch graph.definitions[slot] {
            case .input:
                hasher.combine(0)
            case .constant(let index):
                let value = graph.constants[index]
                hasher.combine(1)
                hasher.combine(value.shape)
                for x in value.data { hasher.combine(x.bitPattern) }
            case .node(let op, _):
                let args = graph.argumentRange(of: slot)
                hasher.combine(2)
                hasher.combine(op.rawValue)
                hasher.combine(args.count)
                for arg in graph.arguments[args] {
                    switch arg {
                    case .slot(let s):
                        hasher.combine(0)
                        hasher.combine(s)
                    case .literal(let x):
                        hasher.combine(1)
                        hasher.combine(x.bitPattern)
                    }
                }
                let attributes = graph.attributes(of: slot).values.sorted { $0.key < $1.key }
                hasher.combine(attributes.count)
                for (name, value) in attributes {
                    hasher.combine(name)
                    hasher.combine(value)
                }
            }
        }
        (first, second) = hasher.finalize()
    }
}

/// Two hashers fed the same values under different salts.
private struct DualHasher {
    private var a = Hasher()
    private var b = Hasher()

    init() {
        a.combine(0x6175_746F_6469_6666)
        b.combine(0x0066_6966_6F74_7561)
    }

    mutating func combine(_ value: some Hashable) {
        a.combine(value)
        b.combine(value)
    }

    /// An attribute value, numbers by bit pattern; nesting is bounded by the JSON reader's depth.
    mutating func combine(_ value: AttributeValue) {
        switch value {
        case .number(let x):
            combine(0)
            combine(x.bitPattern)
        case .string(let s):
            combine(1)
            combine(s)
        case .bool(let flag):
            combine(2)
            combine(flag)
        case .array(let items):
            combine(3)
            combine(items.count)
            for item in items { combine(item) }
        case .null:
            combine(4)
        }
    }

    consuming func finalize() -> (Int, Int) {
        (a.finalize(), b.finalize())
    }
}
