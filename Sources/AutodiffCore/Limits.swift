/// Bounds on what one call may ask of the process, checked before any large allocation.
/// Exceeding one is `AutodiffError.limitExceeded`.
public struct Limits: Sendable, Equatable {
    /// Nodes in a client's graph.
    public var maxNodes: Int
    /// Elements in any one tensor: inputs, constants, seeds, intermediates and results.
    public var maxElements: Int
    /// Estimated bytes of all tensors one run computes (intermediates included).
    public var maxBytes: Int
    /// Estimated floating-point operations of one run (a Jacobian counts every row).
    public var maxWork: Int

    public init(
        maxNodes: Int = 10_000,
        maxElements: Int = 16_777_216,
        maxBytes: Int = 1 << 30,
        maxWork: Int = 20_000_000_000
    ) {
        self.maxNodes = maxNodes
        self.maxElements = maxElements
        self.maxBytes = maxBytes
        self.maxWork = maxWork
    }
}
