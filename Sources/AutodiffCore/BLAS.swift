import CBLASShim

/// The compute engine as the service reports it at start-up.
public enum Engine {
    /// Which matrix-multiply kernel runs, for the start-up log and `/metrics`: OpenBLAS with the
    /// core it uses and why that core (`cpuid`, the operator's `OPENBLAS_CORETYPE`, or OpenBLAS's
    /// own detection), or the built-in Swift kernel and why OpenBLAS could not be loaded.
    public static var blasDescription: String {
        if let core = BLAS.core {
            return "OpenBLAS (\(String(cString: autodiff_blas_detail())), core \(core), chosen by "
                + "\(String(cString: autodiff_blas_core_source())), 1 thread per call unless OPENBLAS_NUM_THREADS)"
        }
        return "built-in Swift kernel (OpenBLAS not loaded: \(String(cString: autodiff_blas_detail())))"
    }

    /// The OpenBLAS core in use (`SkylakeX`, `Cooperlake`, `Haswell`, ...), or `nil` when matrix
    /// products run on the built-in Swift kernel.
    public static var blasCore: String? { BLAS.core }

    /// `op(a) · op(b)` of two matrices, where `op` transposes when asked, through the same kernel
    /// as the `matmul` op (for benchmarks and checks).
    public static func multiply(
        _ a: Tensor, _ b: Tensor, transposingA: Bool = false, transposingB: Bool = false
    ) throws(AutodiffError) -> Tensor {
        guard a.rank == 2, b.rank == 2 else {
            throw .invalidRequest("Engine.multiply needs matrices, got shapes \(a.shape) and \(b.shape)")
        }
        let (m, k) = transposingA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = transposingB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == k2 else {
            throw .invalidRequest("Engine.multiply: inner sizes differ, got shapes \(a.shape) and \(b.shape)")
        }
        let call = GEMM(
            m: m, n: n, k: k, transposeA: transposingA, transposeB: transposingB,
            lda: Swift.max(1, a.shape[1]), ldb: Swift.max(1, b.shape[1]), ldc: Swift.max(1, n))
        var data = [Double](repeating: 0, count: m * n)
        a.data.withUnsafeBufferPointer { a in
            b.data.withUnsafeBufferPointer { b in
                data.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(call, a.baseAddress, b.baseAddress, c.baseAddress)
                }
            }
        }
        return Tensor(validShape: [m, n], data: data)
    }
}

/// One `C = op(A) · op(B)` on row-major matrices: `op(A)` is `m × k`, `op(B)` is `k × n`, and the
/// leading dimensions are the row lengths as stored (so a transposed `A` is stored `k × m`, `lda = m`).
struct GEMM {
    var m: Int, n: Int, k: Int
    var transposeA: Bool, transposeB: Bool
    var lda: Int, ldb: Int, ldc: Int
}

/// Matrix products through OpenBLAS when it loads, else through a blocked Swift kernel.
enum BLAS {
    /// The OpenBLAS core, or `nil` when the library is not available. Loading happens once.
    static let core: String? = autodiff_blas_load() == 1 ? autodiff_blas_core().map { String(cString: $0) } : nil

    /// `C = op(A) · op(B)`; every element of `C` is written (zeros when `k` is 0), so it may start uninitialized.
    static func gemm(
        _ g: GEMM, _ a: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?, _ c: UnsafeMutablePointer<Double>?
    ) {
        guard g.m > 0, g.n > 0, let c else { return }
        guard g.k > 0, let a, let b else {
            c.update(repeating: 0, count: (g.m - 1) * g.ldc + g.n)
            return
        }
        let int32 = Int(Int32.max)
        if core != nil, g.m <= int32, g.n <= int32, g.k <= int32, g.lda <= int32, g.ldb <= int32, g.ldc <= int32 {
            autodiff_blas_dgemm(
                g.transposeA ? 1 : 0, g.transposeB ? 1 : 0, Int32(g.m), Int32(g.n), Int32(g.k),
                a, Int32(g.lda), b, Int32(g.ldb), c, Int32(g.ldc))
        } else {
            blockedGemm(g, a, b, c)
        }
    }

    /// The fallback: `i-p-j` order (each `C[i, j]` sums over `p` in order, as the naive loop) in
    /// column blocks that keep a stripe of `B` in cache, with a contiguous inner loop when `B` is
    /// not transposed.
    static func blockedGemm(
        _ g: GEMM, _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>
    ) {
        let (aRow, aCol) = g.transposeA ? (1, g.lda) : (g.lda, 1)
        let (bRow, bCol) = g.transposeB ? (1, g.ldb) : (g.ldb, 1)
        for i in 0..<g.m { (c + i * g.ldc).update(repeating: 0, count: g.n) }
        let block = 256
        for j0 in stride(from: 0, to: g.n, by: block) {
            let width = Swift.min(block, g.n - j0)
            for i in 0..<g.m {
                let out = c + i * g.ldc + j0
                for p in 0..<g.k {
                    let x = a[i * aRow + p * aCol]
                    let row = b + p * bRow + j0 * bCol
                    if bCol == 1 {
                        for j in 0..<width { out[j] += x * row[j] }
                    } else {
                        for j in 0..<width { out[j] += x * row[j * bCol] }
                    }
                }
            }
        }
    }
}
