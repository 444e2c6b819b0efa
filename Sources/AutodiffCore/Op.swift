/// The op table: every op the service knows, with its arity, attributes and gradient convention.
///
/// Forward kernels live in `Op+Forward.swift` and backward rules in `Op+Backward.swift`, each one
/// exhaustive `switch` over this enum. Adding an op is one case here, one in each of those, and tests.
public enum Op: String, CaseIterable, Sendable {
    // MARK: Binary elementwise (NumPy broadcasting)
    case add, sub, mul, div, pow, maximum, minimum
    case gt, ge, lt, le, eq, ne
    // MARK: Unary elementwise
    case neg, exp, log, sqrt, sin, cos, tan, tanh, sigmoid, reciprocal, square, log1p, expm1, erf
    case abs, relu
    case leakyRelu = "leaky_relu"
    case elu, gelu, softplus, clamp
    case sign, floor, ceil, round
    // MARK: Selection
    case `where`
    // MARK: Reductions
    case sum, mean, prod, max, min, logsumexp
    // MARK: Linear algebra and layout
    case matmul, transpose, reshape
    case broadcastTo = "broadcast_to"
    case squeeze, unsqueeze, concat, slice
    /// Places its argument into the `slice` of a zero tensor of `shape`: the adjoint of `slice`.
    case sliceBackward = "slice_backward"
    // MARK: Normalization
    case softmax
    case logSoftmax = "log_softmax"

    /// How many arguments the op takes.
    public enum Arity: Sendable, Equatable {
        case exactly(Int)
        case atLeast(Int)

        func accepts(_ count: Int) -> Bool {
            switch self {
            case .exactly(let n): count == n
            case .atLeast(let n): count >= n
            }
        }

        var text: String {
            switch self {
            case .exactly(let n): "\(n)"
            case .atLeast(let n): "at least \(n)"
            }
        }
    }

    public var arity: Arity {
        switch self {
        case .add, .sub, .mul, .div, .pow, .maximum, .minimum, .gt, .ge, .lt, .le, .eq, .ne, .matmul:
            .exactly(2)
        case .where:
            .exactly(3)
        case .concat:
            .atLeast(1)
        default:
            .exactly(1)
        }
    }

    /// The attributes the op accepts, with their defaults (`nil` default: optional, no value).
    public var attributes: [AttributeSpec] {
        switch self {
        case .leakyRelu: [.init("negative_slope", .number, default: .number(0.01))]
        case .elu: [.init("alpha", .number, default: .number(1))]
        case .gelu: [.init("approximate", .choice(["none", "tanh"]), default: .string("none"))]
        case .softplus:
            [.init("beta", .number, default: .number(1)), .init("threshold", .number, default: .number(20))]
        case .clamp: [.init("min", .number), .init("max", .number)]
        case .sum, .mean, .prod, .max, .min, .logsumexp:
            [.init("axes", .ints, note: "all axes"), .init("keepdims", .bool, default: .bool(false))]
        case .transpose: [.init("perm", .ints, note: "reversed axes")]
        case .reshape: [.init("shape", .ints, required: true)]
        case .broadcastTo: [.init("shape", .ints, required: true)]
        case .squeeze: [.init("axes", .ints, note: "every size-1 axis")]
        case .unsqueeze: [.init("axes", .ints, required: true)]
        case .concat: [.init("axis", .int, default: .number(0))]
        case .slice:
            [
                .init("starts", .indices, required: true), .init("ends", .indices, required: true),
                .init("axes", .ints, note: "0…n−1"), .init("steps", .indices, note: "1 on every axis"),
            ]
        case .sliceBackward:
            [
                .init("shape", .ints, required: true),
                .init("starts", .indices, required: true), .init("ends", .indices, required: true),
                .init("axes", .ints, note: "0…n−1"), .init("steps", .indices, note: "1 on every axis"),
            ]
        case .softmax, .logSoftmax: [.init("axis", .int, default: .number(-1))]
        default: []
        }
    }

    /// One line on the gradient convention, as served by `GET /v1/ops`.
    public var gradientNote: String {
        switch self {
        case .add, .sub, .mul: "standard; broadcast dimensions are summed back"
        case .div: "standard; IEEE values at division by zero"
        case .pow: "d/dbase is 0 where exponent is 0; d/dexponent is 0 where base is 0 and exponent ≥ 0"
        case .maximum, .minimum: "ties split the gradient half and half"
        case .gt, .ge, .lt, .le, .eq, .ne: "1.0/0.0 result, no gradient"
        case .sqrt: "g / (2·sqrt(x)); inf at 0"
        case .neg, .exp, .log, .sin, .cos, .tan, .tanh, .sigmoid, .reciprocal, .square, .log1p, .expm1, .erf:
            "standard"
        case .abs: "sign(x); 0 at 0"
        case .relu: "1 where the result is > 0, else 0 (0 at 0)"
        case .leakyRelu: "1 for x > 0, negative_slope otherwise (slope at 0)"
        case .elu: "1 for x > 0, alpha·exp(x) otherwise (alpha at 0)"
        case .gelu: "exact derivative of the chosen formula"
        case .softplus: "sigmoid(beta·x); 1 where beta·x > threshold (linear there)"
        case .clamp: "1 strictly inside the bounds, 0 at and beyond them"
        case .sign, .floor, .ceil, .round: "zero gradient (round is half to even)"
        case .where: "cond ≠ 0 passes the gradient to a, else to b; cond gets none"
        case .sum: "gradient broadcast back over the reduced axes"
        case .mean: "gradient broadcast back and divided by the reduced count"
        case .prod: "product of the other elements; exact with one or several zeros"
        case .max, .min: "ties share the gradient evenly (a NaN result: among the NaNs without axes, NaN with axes)"
        case .logsumexp: "softmax of the input along the axes; numerically stable"
        case .matmul: "torch.matmul rules: 1-D promotion, batch broadcasting (batch dims summed back)"
        case .transpose, .reshape, .squeeze, .unsqueeze: "the inverse layout change"
        case .broadcastTo: "broadcast dimensions are summed back"
        case .concat: "each argument gets its slice of the gradient"
        case .slice: "zeros outside the slice"
        case .sliceBackward: "the slice of the gradient"
        case .softmax, .logSoftmax: "numerically stable"
        }
    }
}

/// Declares one attribute of an op: its name, kind and default.
public struct AttributeSpec: Sendable {
    public enum Kind: Sendable, Equatable {
        case int, ints, number, bool
        /// Slice starts, ends and steps: integers, where values beyond ±2⁶² clamp. Clamping changes no
        /// slice: an index past the end means the end (ONNX's "to the end"), a step past it the start alone.
        case indices
        case choice([String])

        public var name: String {
            switch self {
            case .int: "int"
            case .ints, .indices: "int[]"
            case .number: "number"
            case .bool: "bool"
            case .choice: "string"
            }
        }
    }

    public let name: String
    public let kind: Kind
    /// The value used when the attribute is absent; `nil` when absence has its own meaning.
    public let defaultValue: AttributeValue?
    public let required: Bool
    /// What absence means when there is no default value (for example "all axes").
    public let note: String?

    init(
        _ name: String, _ kind: Kind, default defaultValue: AttributeValue? = nil, required: Bool = false,
        note: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.required = required
        self.note = note
    }
}
