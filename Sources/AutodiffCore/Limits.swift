/// Bounds on what one call may ask of the process, checked before any large allocation and before
/// any of the work starts. Exceeding one is `AutodiffError.limitExceeded`.
public struct Limits: Sendable, Hashable {
    /// Nodes in a client's graph.
    public var maxNodes: Int
    /// Elements in any one tensor: inputs, constants, seeds, intermediates and results. The same
    /// bound applies to a tensor's iteration space (the product of its dimensions counting 0 as 1),
    /// so an empty tensor of shape `[2⁴⁰, 0]` is refused like a full one.
    public var maxElements: Int
    /// Estimated bytes of all tensors one run computes (intermediates included) and of its results
    /// as the caller will render them (`resultBytesPerElement`).
    public var maxBytes: Int
    /// Estimated floating-point operations of one run (a Jacobian counts every row, and every node
    /// and row costs `Program.nodeOverhead` besides its arithmetic).
    public var maxWork: Int
    /// Names in one list of a call: graph inputs, constants, `values`, `outputs`, `wrt`, seeds,
    /// tangents and vectors, each.
    public var maxNames: Int
    /// Arguments of one node (`concat` takes any number).
    public var maxArgs: Int
    /// Bytes the caller spends per result element once it has the results (rendering them as
    /// text), counted against `maxBytes`. 32 covers the longest decimal float64 with its separator.
    public var resultBytesPerElement: Int

    public init(
        maxNodes: Int = 10_000,
        maxElements: Int = 16_777_216,
        maxBytes: Int = 1 << 30,
        maxWork: Int = 20_000_000_000,
        maxNames: Int = 10_000,
        maxArgs: Int = 10_000,
        resultBytesPerElement: Int = 32
    ) {
        self.maxNodes = maxNodes
        self.maxElements = maxElements
        self.maxBytes = maxBytes
        self.maxWork = maxWork
        self.maxNames = maxNames
        self.maxArgs = maxArgs
        self.resultBytesPerElement = resultBytesPerElement
    }

    /// Nodes a derivative may add to a graph of `maxNodes` (reverse over reverse, as for `hvp`,
    /// grows a graph by a factor of a few dozen at most), and never 2³¹ or more: the compiled
    /// evaluation numbers slots and positions in `Int32`s.
    var maxProgramSlots: Int {
        let (slots, overflow) = maxNodes.multipliedReportingOverflow(by: 64)
        return overflow ? Self.slotNumberLimit : min(slots, Self.slotNumberLimit)
    }

    private static let slotNumberLimit = Int(Int32.max)

    /// Refuses a list of more than `maxNames` names.
    func checkNames(_ count: Int, _ what: String) throws(AutodiffError) {
        guard count <= maxNames else {
            throw .limitExceeded("\(what) lists \(count) names; the limit is \(maxNames)")
        }
    }

    /// Refuses a tensor whose elements or iteration space exceed `maxElements`.
    func checkSize(_ shape: [Int], what: String, node: String?) throws(AutodiffError) {
        guard let iterations = Shape.iterations(shape), iterations <= maxElements else {
            let count = Shape.elementCount(shape).map(String.init) ?? "too many"
            throw .limitExceeded(
                "\(what) has shape \(shape) (\(count) elements, counting empty dimensions as 1 for the loops "
                    + "over them); the limit per tensor is \(maxElements)",
                node: node)
        }
    }

    /// Refuses a tensor of `shape` whose storage alone is over `maxBytes`. For the few tensors built
    /// before a call's whole cost is checked (the implicit seeds of ones), which could otherwise
    /// be far larger than memory when no element limit applies.
    func checkStorage(_ shape: [Int], what: String, node: String?) throws(AutodiffError) {
        guard let count = Shape.elementCount(shape), count <= maxBytes / 8 else {
            throw .limitExceeded(
                "\(what) of shape \(shape) would need more than the \(maxBytes) bytes a call may use", node: node)
        }
    }

    /// Bytes a result written as nested arrays takes per element and axis besides the number: the
    /// axis's brackets and comma. (`[[[…[x]…]]]`: a tensor of shape `[n, 1, …, 1]` of 64 axes wrote
    /// about 130 bytes per element where 32 were budgeted, so its answer was four times the limit.)
    static let renderedBytesPerAxis = 3

    /// What the caller's copy of results of `shapes`, `rows` times each, costs in bytes: the
    /// float64 storage plus the rendering (which writes brackets even for empty dimensions), rows
    /// counted as one more axis.
    func resultBytes(_ shapes: [[Int]], rows: Int = 1) -> Int {
        var total = 0
        for shape in shapes {
            let storage = (Shape.elementCount(shape) ?? Int.max).multipliedClamped(by: 8)
            let axes = shape.count + (rows > 1 ? 1 : 0)
            let perElement = resultBytesPerElement.addingClamped(Self.renderedBytesPerAxis.multipliedClamped(by: axes))
            let rendering = (Shape.iterations(shape) ?? Int.max).multipliedClamped(by: perElement)
            total = total.addingClamped(storage.addingClamped(rendering).multipliedClamped(by: Swift.max(rows, 1)))
        }
        return total
    }
}

extension Int {
    /// Saturating addition for cost estimates.
    func addingClamped(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? Int.max : sum
    }

    /// Saturating multiplication of non-negative cost estimates.
    func multipliedClamped(by other: Int) -> Int {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? Int.max : product
    }
}
