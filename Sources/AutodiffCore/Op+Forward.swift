/// The forward kernels: one exhaustive switch over the op table. Shapes and attributes were
/// checked by `plan`, so nothing here can fail.
extension Op {
    func evaluate(_ args: [Tensor], plan: Plan, attrs: Attributes) -> Tensor {
        switch plan.layout {
        case .map:
            return Tensor(validShape: plan.shape, data: args[0].data.map(Kernels.unary(self, attrs)))
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
            return Kernels.softmax(args[0], outer: outer, length: length, inner: inner, logarithm: self == .logSoftmax)
        }
    }

    // MARK: Elementwise

    /// The scalar function of a binary elementwise op.
    private var binaryFunction: (Double, Double) -> Double {
        switch self {
        case .add: { $0 + $1 }
        case .sub: { $0 - $1 }
        case .mul: { $0 * $1 }
        case .div: { $0 / $1 }
        case .pow: { libmPow($0, $1) }
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
            return Kernels.fold(x, reduction, shape: shape, initial: -.infinity) {
                $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1)
            }
        case .min:
            return Kernels.fold(x, reduction, shape: shape, initial: .infinity) {
                $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1)
            }
        case .logsumexp:
            // Shift by the maximum (0 where it is infinite, as PyTorch) so exp never overflows.
            let maxima = Kernels.fold(x, reduction, shape: shape, initial: -.infinity) {
                $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1)
            }.data.map { $0.isInfinite ? 0 : $0 }
            var sums = [Double](repeating: 0, count: maxima.count)
            Kernels.forEach(x, reduction) { value, out in sums[out] += libmExp(value - maxima[out]) }
            return Tensor(validShape: shape, data: zip(sums, maxima).map { libmLog($0) + $1 })
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
