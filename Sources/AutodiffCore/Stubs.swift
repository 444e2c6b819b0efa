// TEMPORARY: signatures of the public entry points while the core is written. Replaced by real code.
extension Graph {
    /// Evaluates `outputs` for the given input values.
    public func forward(
        values: [String: Tensor], outputs: [String], limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> [String: Tensor] { fatalError("unimplemented") }

    /// `Σᵢ seedᵢᵀ · ∂outputᵢ/∂input` for each `wrt` input (default: every input).
    public func backward(
        values: [String: Tensor], outputs: [String], seeds: [String: Seed], wrt: [String]? = nil,
        options: BackwardOptions = BackwardOptions(), limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> BackwardResult { fatalError("unimplemented") }

    public func jacobian(
        values: [String: Tensor], outputs: [String], wrt: [String]? = nil, limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> JacobianResult { fatalError("unimplemented") }

    public func jvp(
        values: [String: Tensor], outputs: [String], tangents: [String: Tensor], limits: Limits = Limits(),
        deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> JVPResult { fatalError("unimplemented") }

    public func hvp(
        values: [String: Tensor], output: String, vectors: [String: Tensor], wrt: [String]? = nil,
        limits: Limits = Limits(), deadline: ContinuousClock.Instant? = nil
    ) throws(AutodiffError) -> HVPResult { fatalError("unimplemented") }
}
