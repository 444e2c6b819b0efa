import Dispatch
import Foundation
import Synchronization
import Testing

@testable import AutodiffCore

/// Elementwise kernels of `Kernels.sharedElements` elements or more hand their second half to an
/// idle worker of the calling thread's pool (`WorkSharing`): the values are bit for bit those of
/// one thread, and a deadline still stops them.
@Suite struct SharedKernelTests {
    /// A pool of one worker thread that takes every part offered to it: the service's pool, as
    /// `WorkSharing` sees it, with a worker always idle.
    final class OneIdleWorker: IdleWorkers {
        private let parts = Mutex<[SharedPart]>([])
        private let available = DispatchSemaphore(value: 0)
        private let takenCount = Mutex(0)

        /// How many parts the worker has taken.
        var taken: Int { takenCount.withLock { $0 } }

        init() {
            // The one instance lives as long as the tests, and its thread with it.
            Thread { [self] in serve() }.start()
        }

        private func serve() {
            while true {
                available.wait()
                let part = parts.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                guard let part else { continue }
                takenCount.withLock { $0 += 1 }
                part.run()
            }
        }

        func offer(_ part: SharedPart) -> Bool {
            parts.withLock { $0.append(part) }
            available.signal()
            return true
        }

        func takeBack(_ part: SharedPart) -> Bool {
            parts.withLock { parts in
                guard let position = parts.firstIndex(where: { $0 === part }) else { return false }
                parts.remove(at: position)
                return true
            }
        }
    }

    static let worker = OneIdleWorker()

    /// `op` on `args` on this thread alone, then as a worker of `worker` until the worker has taken
    /// a part of it (up to 200 times): both results, and whether it helped.
    static func evaluations(_ op: Op, _ args: [Tensor]) throws -> (alone: Tensor, shared: Tensor, helped: Bool) {
        let alone = try EngineKernelTests.evaluate(op, args)
        var shared = alone
        let before = worker.taken
        var failure: (any Error)?
        WorkSharing.serve(worker) {
            for _ in 0..<200 where worker.taken == before {
                do {
                    shared = try EngineKernelTests.evaluate(op, args)
                } catch {
                    failure = error
                    return
                }
            }
        }
        if let failure { throw failure }
        return (alone, shared, worker.taken > before)
    }

    @Test(arguments: [Op.sin, .tanh, .sigmoid, .exp, .relu, .neg])
    func unaryKernelsGiveTheSameBitsShared(_ op: Op) throws {
        var random = SplitMix64(seed: 0x5_4A2E_D)
        let count = Kernels.sharedElements + 12_345
        let x = try Tensor(shape: [count], data: EngineKernelTests.values(count, &random))
        let (alone, shared, helped) = try Self.evaluations(op, [x])
        #expect(helped)
        #expect(EngineKernelTests.sameBits(shared, alone))
    }

    @Test(arguments: [Op.mul, .add, .div, .pow, .maximum])
    func binaryKernelsGiveTheSameBitsShared(_ op: Op) throws {
        var random = SplitMix64(seed: 0xB1_4A2E)
        let count = 2 * Kernels.sharedElements + 1
        let a = try Tensor(shape: [count], data: EngineKernelTests.values(count, &random))
        let b = try Tensor(shape: [count], data: EngineKernelTests.values(count, &random))
        let scalar = try Tensor(shape: [1], data: [1.5])
        for args in [[a, b], [a, scalar], [scalar, b]] {
            let (alone, shared, helped) = try Self.evaluations(op, args)
            #expect(helped)
            #expect(EngineKernelTests.sameBits(shared, alone))
        }
    }

    @Test func sinesAndCosinesTogetherGiveTheSameBitsShared() {
        var random = SplitMix64(seed: 0x51_C05)
        let count = Kernels.sharedElements + 7
        let x = EngineKernelTests.values(count, &random)
        func sinCos() -> ([UInt64], [UInt64]) {
            var sines = [Double](repeating: 0, count: count)
            var cosines = [Double](repeating: 0, count: count)
            let finished = x.withUnsafeBufferPointer { x in
                sines.withUnsafeMutableBufferPointer { s in
                    cosines.withUnsafeMutableBufferPointer { c in
                        Kernels.sinCos(
                            x.baseAddress!, sines: s.baseAddress!, cosines: c.baseAddress!, count: count, deadline: nil)
                    }
                }
            }
            #expect(finished)
            return (sines.map(\.bitPattern), cosines.map(\.bitPattern))
        }
        let alone = sinCos()
        var shared = alone
        let before = Self.worker.taken
        WorkSharing.serve(Self.worker) {
            for _ in 0..<200 where Self.worker.taken == before { shared = sinCos() }
        }
        #expect(Self.worker.taken > before)
        #expect(shared.0.count == count && zip(shared.0, alone.0).filter { $0 != $1 }.isEmpty)
        #expect(shared.1.count == count && zip(shared.1, alone.1).filter { $0 != $1 }.isEmpty)
    }

    /// A fused group (`g·x + x·g`, the backward of `x·x`, and a tanh chain's backward) of more
    /// than `Kernels.sharedElements` elements: its second half computed by the idle worker in a
    /// scratch area of its own, the gradient bit for bit the one thread's, and the fused and unfused
    /// ones equal.
    @Test func fusedGroupsGiveTheSameBitsShared() throws {
        var random = SplitMix64(seed: 0xF05E_D)
        let count = Kernels.sharedElements + 1_000
        let x = try Tensor(shape: [count], data: EngineKernelTests.values(count, &random))
        for spec in [
            GraphSpec(inputs: ["x"], nodes: [node("y", .mul, "x", "x")]),
            GraphSpec(inputs: ["x"], nodes: [node("a", .tanh, "x"), node("b", .tanh, "a"), node("y", .sin, "b")]),
        ] {
            let graph = try Graph(spec)
            func gradient() throws -> [UInt64] {
                try graph.backward(values: ["x": x], outputs: ["y"], seeds: ["y": .ones]).gradients["x"]?.data
                    .map(\.bitPattern) ?? []
            }
            let alone = try gradient()
            let unfused = try Fusion.$isEnabled.withValue(false) { try gradient() }
            var shared = alone
            let before = Self.worker.taken
            var failure: (any Error)?
            WorkSharing.serve(Self.worker) {
                for _ in 0..<200 where Self.worker.taken == before {
                    do { shared = try gradient() } catch { failure = error }
                }
            }
            if let failure { throw failure }
            #expect(Self.worker.taken > before)
            #expect(alone.count == count)
            if spec.nodes.count == 1 {
                // The seed of ones, written in halves too, makes the gradient of x·x exactly 2x.
                let twice = x.data.map { ($0 + $0).bitPattern }
                #expect(zip(alone, twice).filter { $0 != $1 }.isEmpty)
            }
            // Counted rather than compared whole: a failure then reports a number, not a diff of
            // two quarter-million-element arrays.
            #expect(shared.count == count && zip(shared, alone).filter { $0 != $1 }.isEmpty)
            #expect(unfused.count == count && zip(unfused, alone).filter { $0 != $1 }.isEmpty)
        }
    }

    @Test func aPassedDeadlineStopsASharedKernel() throws {
        let count = 2 * Kernels.elementsPerCheck + 1
        let x = try Tensor(shape: [count], data: [Double](repeating: 0.5, count: count))
        WorkSharing.serve(Self.worker) {
            #expect(throws: AutodiffError.self) {
                try EngineKernelTests.evaluate(.exp, [x], deadline: .now - .seconds(1))
            }
        }
    }
}
