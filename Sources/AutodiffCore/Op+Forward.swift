#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The forward kernels: one exhaustive switch over the op table. Shapes and attributes were
/// checked by `plan`, so nothing here can fail.
extension Op {
    func evaluate(_ args: [Tensor], plan: Plan, attrs: Attributes) -> Tensor {
        switch plan.layout {
        case .map:
            return Tensor(validShape: plan.shape, data: args[0].data.map(unaryFunction(attrs)))
        case .broadcast(let strides):
            return broadcast(args, strides: strides, shape: plan.shape)
        case .reduce(let reduction):
            return reduce(args[0], reduction, shape: plan.shape)
        case .matmul(let matmul):
            return Kernels.matmul(args[0], args[1], matmul, shape: plan.shape)
        case .transpose(let perm):
            return Kernels.transpose(args[0], perm: perm, shape: plan.shape)
        case .copy:
            return Tensor(validShape: plan.shape, data: args[0].data)
        case .concat(let axis):
            return Kernels.concat(args, axis: axis, shape: plan.shape)
        case .slice(let slice):
            return self == .slice ? Kernels.slice(args[0], slice) : Kernels.unslice(args[0], slice)
        case .axis(let outer, let length, let inner):
            return Kernels.softmax(args[0], outer: outer, length: length, inner: inner, log: self == .logSoftmax)
        }
    }

    // MARK: Elementwise

    /// The scalar function of a unary elementwise op, matching PyTorch's CPU kernels.
    private func unaryFunction(_ attrs: Attributes) -> @Sendable (Double) -> Double {
        switch self {
        case .neg: return { -$0 }
        case .exp: return { Glibc.exp($0) }
        case .log: return { Glibc.log($0) }
        case .sqrt: return { $0.squareRoot() }
        case .sin: return { Glibc.sin($0) }
        case .cos: return { Glibc.cos($0) }
        case .tan: return { Glibc.tan($0) }
        case .tanh: return { Glibc.tanh($0) }
        case .sigmoid: return { 1 / (1 + Glibc.exp(-$0)) }
        case .reciprocal: return { 1 / $0 }
        case .square: return { $0 * $0 }
        case .log1p: return { Glibc.log1p($0) }
        case .expm1: return { Glibc.expm1($0) }
        case .erf: return { Glibc.erf($0) }
        case .abs: return { Swift.abs($0) }
        case .relu: return { $0 < 0 ? 0 : $0 }
        case .leakyRelu:
            let slope = attrs.number("negative_slope") ?? 0.01
            return { $0 > 0 ? $0 : $0 * slope }
        case .elu:
            let alpha = attrs.number("alpha") ?? 1
            return { $0 > 0 ? $0 : alpha * Glibc.expm1($0) }
        case .gelu:
            if attrs.string("approximate") == "tanh" {
                return { x in 0.5 * x * (1 + Glibc.tanh(GeluConstants.sqrt2OverPi * (x + GeluConstants.kappa * x * x * x))) }
            }
            return { x in x * 0.5 * (1 + Glibc.erf(x * GeluConstants.sqrtHalf)) }
        case .softplus:
            let beta = attrs.number("beta") ?? 1
            let threshold = attrs.number("threshold") ?? 20
            return { x in x * beta > threshold ? x : Glibc.log1p(Glibc.exp(x * beta)) / beta }
        case .clamp:
            let lower = attrs.number("min")
            let upper = attrs.number("max")
            return { x in
                var y = x
                if let lower, y < lower { y = lower }
                if let upper, y > upper { y = upper }
                return y
            }
        case .sign: return { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case .floor: return { $0.rounded(.down) }
        case .ceil: return { $0.rounded(.up) }
        case .round: return { $0.rounded(.toNearestOrEven) }
        default: fatalError("\(self) is not a unary elementwise op")
        }
    }

    /// The scalar function of a binary elementwise op.
    private var binaryFunction: (Double, Double) -> Double {
        switch self {
        case .add: { $0 + $1 }
        case .sub: { $0 - $1 }
        case .mul: { $0 * $1 }
        case .div: { $0 / $1 }
        case .pow: { Glibc.pow($0, $1) }
        case .maximum: { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .minimum: { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        case .gt: { $0 > $1 ? 1 : 0 }
        case .ge: { $0 >= $1 ? 1 : 0 }
        case .lt: { $0 < $1 ? 1 : 0 }
        case .le: { $0 <= $1 ? 1 : 0 }
        case .eq: { $0 == $1 ? 1 : 0 }
        case .ne: { $0 != $1 ? 1 : 0 }
        default: fatalError("\(self) is not a binary elementwise op")
        }
    }

    private func broadcast(_ args: [Tensor], strides: [[Int]], shape: [Int]) -> Tensor {
        switch self {
        case .broadcastTo:
            return Kernels.gather(args[0], strides: strides[0], shape: shape)
        case .where:
            return Kernels.ternary(args, strides: strides, shape: shape) { $0 != 0 ? $1 : $2 }
        default:
            return Kernels.binary(args[0], args[1], strides: strides, shape: shape, binaryFunction)
        }
    }

    // MARK: Reductions

    private func reduce(_ x: Tensor, _ reduction: Reduction, shape: [Int]) -> Tensor {
        switch self {
        case .sum:
            return Kernels.fold(x, reduction, shape: shape, initial: 0, +)
        case .mean:
            let sums = Kernels.fold(x, reduction, shape: shape, initial: 0, +)
            let count = Double(reduction.count)
            return Tensor(validShape: shape, data: sums.data.map { $0 / count })
        case .prod:
            return Kernels.fold(x, reduction, shape: shape, initial: 1, *)
        case .max:
            return Kernels.fold(x, reduction, shape: shape, initial: -.infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .min:
            return Kernels.fold(x, reduction, shape: shape, initial: .infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        case .logsumexp:
            // Shift by the maximum (0 where it is infinite, as PyTorch) so exp never overflows.
            let maxima = Kernels.fold(x, reduction, shape: shape, initial: -.infinity) {
                $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1)
            }.data.map { $0.isInfinite ? 0 : $0 }
            var sums = [Double](repeating: 0, count: maxima.count)
            Kernels.forEach(x, reduction) { value, out in sums[out] += Glibc.exp(value - maxima[out]) }
            return Tensor(validShape: shape, data: zip(sums, maxima).map { Glibc.log($0) + $1 })
        default:
            fatalError("\(self) is not a reduction")
        }
    }
}

/// Constants of PyTorch's GELU kernels.
enum GeluConstants {
    static let sqrtHalf = 0.70710678118654752440  // M_SQRT1_2
    static let sqrt2OverPi = 0.79788456080286535588  // M_SQRT2 * M_2_SQRTPI * 0.5
    static let kappa = 0.044715
    static let pdfScale = 0.39894228040143267794  // M_2_SQRTPI * M_SQRT1_2 * 0.5
}
