/// A dense float64 tensor in row-major order. Rank 0 is a scalar; dimensions may be 0.
public struct Tensor: Sendable, Equatable {
    public let shape: [Int]
    public internal(set) var data: [Double]

    /// Makes a tensor, checking that `data` holds exactly the elements `shape` describes.
    public init(shape: [Int], data: [Double]) throws(AutodiffError) {
        guard shape.count <= Shape.maxRank else {
            throw .invalidRequest("a tensor may have at most \(Shape.maxRank) dimensions, got \(shape.count)")
        }
        guard let count = Shape.elementCount(shape) else {
            throw .invalidRequest("shape \(shape) must have non-negative dimensions whose product fits in memory")
        }
        guard count == data.count else {
            throw .invalidRequest("shape \(shape) holds \(count) elements, but \(data.count) were given")
        }
        self.shape = shape
        self.data = data
    }

    /// Internal constructor for shapes already validated by the caller.
    init(validShape shape: [Int], data: [Double]) {
        self.shape = shape
        self.data = data
    }

    public init(scalar value: Double) {
        self.shape = []
        self.data = [value]
    }

    /// A tensor of `shape` filled with `value`.
    static func filled(_ value: Double, shape: [Int]) -> Tensor {
        Tensor(validShape: shape, data: [Double](repeating: value, count: Shape.count(shape)))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }
}

/// Shape arithmetic. Every product that comes from client input is overflow-checked.
public enum Shape {
    /// The most dimensions a tensor may have (as NumPy), so that no rank can make a loop or a
    /// nested JSON rendering unreasonably deep.
    public static let maxRank = 64

    /// The element count of `shape`, or `nil` for a negative dimension or an overflowing product.
    ///
    /// The product of the non-zero dimensions must fit too, so that strides and partial products
    /// of a valid shape never overflow, even when another dimension is 0 (`[0, 2⁴⁰, 2⁴⁰]`).
    public static func elementCount(_ shape: [Int]) -> Int? {
        guard let iterations = iterations(shape) else { return nil }
        return shape.contains(0) ? 0 : iterations
    }

    /// The iteration space of `shape`: the product of `max(dim, 1)`, or `nil` for a negative
    /// dimension or an overflowing product.
    ///
    /// Kernels loop over the outer dimensions of a tensor even when an inner one is 0, so a tensor
    /// of shape `[2⁴⁰, 0]` holds no element yet costs 2⁴⁰ steps. Limits bound this number like the
    /// element count, so an empty tensor cannot carry a loop of that length.
    public static func iterations(_ shape: [Int]) -> Int? {
        var product = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            guard dim > 1 else { continue }
            let (next, overflow) = product.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            product = next
        }
        return product
    }

    /// `a × b`, or `nil` when it overflows.
    static func product(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : result
    }

    /// `a + b`, or `nil` when it overflows.
    static func sum(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : result
    }

    /// The element count of a shape already known to be valid.
    static func count(_ shape: [Int]) -> Int {
        shape.contains(0) ? 0 : shape.reduce(1, *)
    }

    /// Row-major strides.
    static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// NumPy broadcasting of two shapes, or `nil` when they are incompatible.
    static func broadcast(_ lhs: [Int], _ rhs: [Int]) -> [Int]? {
        let rank = max(lhs.count, rhs.count)
        var result = [Int](repeating: 1, count: rank)
        for axis in 0..<rank {
            let l = axis < rank - lhs.count ? 1 : lhs[axis - (rank - lhs.count)]
            let r = axis < rank - rhs.count ? 1 : rhs[axis - (rank - rhs.count)]
            if l == r || r == 1 {
                result[axis] = l
            } else if l == 1 {
                result[axis] = r
            } else {
                return nil
            }
        }
        return result
    }

    /// Strides for reading a tensor of `shape` as if broadcast to `target` (0 along broadcast axes).
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let offset = target.count - shape.count
        var result = [Int](repeating: 0, count: target.count)
        // `running` is the axis's stride in `shape`'s own layout (as `strides(shape)` computes it).
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[axis] != 1 { result[axis + offset] = running }
            running *= shape[axis]
        }
        return result
    }

    /// Normalizes a possibly negative axis for a tensor of `rank`, or `nil` when it is out of range.
    static func normalize(axis: Int, rank: Int) -> Int? {
        let normalized = axis < 0 ? axis + rank : axis
        return (0..<rank).contains(normalized) ? normalized : nil
    }
}

/// Walks the multi-indices of `shape` in row-major order and keeps linear offsets for several strided
/// operands in step, so a broadcasting loop costs no allocation per element.
struct StridedCursor {
    private let shape: [Int]
    private let strides: [[Int]]
    private var index: [Int]
    private(set) var offsets: [Int]

    init(shape: [Int], strides: [[Int]]) {
        self.shape = shape
        self.strides = strides
        self.index = [Int](repeating: 0, count: shape.count)
        self.offsets = [Int](repeating: 0, count: strides.count)
    }

    /// Moves to the next multi-index.
    mutating func advance() {
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            for operand in 0..<strides.count { offsets[operand] += strides[operand][axis] }
            if index[axis] < shape[axis] { return }
            for operand in 0..<strides.count { offsets[operand] -= strides[operand][axis] * index[axis] }
            index[axis] = 0
            axis -= 1
        }
    }
}
