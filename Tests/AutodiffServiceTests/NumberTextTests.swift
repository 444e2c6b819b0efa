import AutodiffCore
import Foundation
import Testing

@testable import AutodiffService

/// The response writer prints every finite float64 exactly as Swift's `Double.description` does (the
/// text responses had before the writer printed numbers itself), byte for byte, and non-finite ones
/// as the contract's strings.
@Suite struct NumberTextTests {
    /// How many random bit patterns are checked (besides the boundary ones). A larger run: set
    /// `AUTODIFFD_NUMBER_TEXT_CASES`.
    static let randomCases =
        ProcessInfo.processInfo.environment["AUTODIFFD_NUMBER_TEXT_CASES"].flatMap(Int.init) ?? 1_000_000

    /// The writer's text for one number.
    static func written(_ x: Double) -> String {
        var writer = JSONWriter(capacity: 32)
        writer.writeNumber(x)
        return String(decoding: writer.buffer.readableBytesView, as: UTF8.self)
    }

    /// Counts (and reports the first few) values whose text is not their `description`.
    static func mismatches(_ values: [Double]) -> Int {
        var count = 0
        for x in values where x.isFinite {
            let text = written(x)
            if text != x.description {
                count += 1
                if count <= 5 {
                    let bits = String(x.bitPattern, radix: 16)
                    Issue.record("bits \(bits): wrote \(text), description is \(x.description)")
                }
            }
        }
        return count
    }

    /// Both signs of: every power of two and the values one and two ulps around it, the largest
    /// significand of each binade, powers of ten and their neighbours, the switch points between
    /// decimal and exponent notation (1e-4, 2^53), small subnormals, integers and short decimals.
    static var boundaryValues: [Double] {
        var values: [Double] = [0, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 0.1]
        for exponent: UInt64 in 0..<2047 {
            for significand: UInt64 in [0, 1, 2, 0x8_0000_0000_0000, 0xF_FFFF_FFFF_FFFE, 0xF_FFFF_FFFF_FFFF] {
                values.append(Double(bitPattern: exponent << 52 | significand))
            }
        }
        for power in -330...310 {
            guard let x = Double("1e\(power)"), x != 0, x.isFinite else { continue }
            values += [x, x.nextUp, x.nextDown, x.nextUp.nextUp, x.nextDown.nextDown]
        }
        for switchPoint in [1e-4, 9007199254740992.0, 18014398509481984.0] {
            var (up, down) = (switchPoint, switchPoint)
            for _ in 0..<64 {
                values += [up, down]
                up = up.nextUp
                down = down.nextDown
            }
        }
        values += (1..<10_000).map { Double(bitPattern: UInt64($0)) }
        values += (0..<20_000).map(Double.init)
        values += (0..<20_000).map { Double($0) / 1000 }
        values += (1...17).map { pow(10, Double($0)) - 1 }
        return values + values.map { -$0 }
    }

    @Test func boundaryValuesAreWrittenAsTheirDescription() {
        #expect(Self.mismatches(Self.boundaryValues) == 0)
    }

    @Test func randomBitPatternsAreWrittenAsTheirDescription() {
        var random = SplitMix64(seed: 0x7E_47)
        var values: [Double] = []
        values.reserveCapacity(Self.randomCases)
        for case_ in 0..<Self.randomCases {
            switch case_ % 4 {
            case 0, 1:
                // Any bit pattern.
                values.append(Double(bitPattern: random.next()))
            case 2:
                // Values of the size tensors usually hold, with short and long decimal expansions.
                let x = Double(bitPattern: random.next() >> 12 | 0x3FF0_0000_0000_0000) - 1.5
                values.append(x * Double(sign: .plus, exponent: Int(random.next() % 40) - 20, significand: 1))
            default:
                // Numbers with few significant digits (`0.25`, `1250.0`, `3e-07`), where formatting decides.
                let digits = Double(random.next() % 100_000)
                values.append(digits * pow(10, Double(Int(random.next() % 40) - 25)))
            }
        }
        #expect(Self.mismatches(values) == 0)
    }

    /// The number of the contract: a description, or the string for a non-finite value.
    static func expected(_ x: Double) -> String {
        if x.isNaN { return #""NaN""# }
        if x.isInfinite { return x > 0 ? #""Infinity""# : #""-Infinity""# }
        return x.description
    }

    @Test func tensorsAreWrittenNumberByNumber() throws {
        var random = SplitMix64(seed: 0x7E_50)
        var data = (0..<24).map { _ in Double(bitPattern: random.next()) }
        data[3] = .nan
        data[7] = .infinity
        data[8] = -.infinity
        data[11] = -0.0
        let tensor = try Tensor(shape: [2, 3, 4], data: data)
        let text = data.map(Self.expected)
        func row(_ r: Int) -> String { "[" + text[r * 4..<r * 4 + 4].joined(separator: ",") + "]" }
        let nested = "[[" + row(0) + "," + row(1) + "," + row(2) + "],[" + row(3) + "," + row(4) + "," + row(5) + "]]"
        let flat = #"{"shape":[2,3,4],"data":["# + text.joined(separator: ",") + "]}"
        #expect(try JSONOutput.tensor(tensor, .nested).serialized() == Array(nested.utf8))
        #expect(try JSONOutput.tensor(tensor, .flat).serialized() == Array(flat.utf8))
        let vector = try Tensor(shape: [24], data: data)
        let list = "[" + text.joined(separator: ",") + "]"
        #expect(try JSONOutput.tensor(vector, .nested).serialized() == Array(list.utf8))
    }

    /// A tensor of more than one step (`JSONWriter.valuesPerStep`) reads the same whether the calling
    /// thread prints every step or an idle worker prints every other one into a piece of its own:
    /// alone (no pool), and on a pool with an idle worker until that worker has helped.
    @Test func bigTensorsPrintTheSameWithAndWithoutAHelper() async throws {
        var random = SplitMix64(seed: 0x7E_51)
        let count = 2 * JSONWriter.valuesPerStep + 3
        var data = (0..<count).map { _ in Double(bitPattern: random.next()) }
        for position in [0, count / 2 - 1, count / 2, count / 2 + 1, count - 1] {
            data[position] = [Double.nan, .infinity, -.infinity, -0.0, 1e-5][position % 5]
        }
        let tensor = try Tensor(shape: [count], data: data)
        let text = data.map(Self.expected)
        let flat = Array((#"{"shape":[\#(count)],"data":["# + text.joined(separator: ",") + "]}").utf8)
        let matrix = try Tensor(shape: [2, count / 2], data: Array(data.dropLast()))
        let rows = "[[" + text[..<(count / 2)].joined(separator: ",") + "],["
            + text[(count / 2)..<(count - 1)].joined(separator: ",") + "]]"
        #expect(try JSONOutput.tensor(tensor, .flat).serialized() == flat)
        #expect(try JSONOutput.tensor(matrix, .nested).serialized() == Array(rows.utf8))

        let pool = WorkerPool(workers: 2, queueDepth: 0)
        for _ in 0..<50 where pool.helped == 0 {
            let printed = try await pool.run { try JSONOutput.tensor(tensor, .flat).serialized() }
            #expect(printed == flat)
        }
        #expect(pool.helped > 0)
        let nested = try await pool.run { try JSONOutput.tensor(matrix, .nested).serialized() }
        #expect(nested == Array(rows.utf8))
    }

    @Test func nonFiniteNumbersAreTheContractStrings() {
        #expect(Self.written(.nan) == #""NaN""#)
        #expect(Self.written(-.nan) == #""NaN""#)
        #expect(Self.written(.infinity) == #""Infinity""#)
        #expect(Self.written(-.infinity) == #""-Infinity""#)
        #expect(Self.written(-0.0) == "-0.0")
        #expect(Self.written(1e-5) == "1e-05")
        #expect(Self.written(100) == "100.0")
        #expect(Self.written(9007199254740994) == "9.007199254740994e+15")
    }
}
