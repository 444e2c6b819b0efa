import AutodiffCore
import Foundation
import Testing

@testable import AutodiffService

/// A long run of numbers is read in two halves when a worker of the pool is idle (`JSONParser`'s
/// `readNumberRun`, `WorkSharing.share`). Whatever the body, the parse must come out exactly as when
/// one thread reads it all: the same values, or the same error at the same offset.
///
/// The bodies are parsed with runs shared from `sharedRunBytes` (the server's threshold is 1 MiB,
/// too slow to parse a hundred times in a debug build); the same code runs either way.
@Suite struct SharedNumberRunTests {
    static let sharedRunBytes = 65_536

    /// Numbers of random bit patterns, as the writer prints them: a run of twice `sharedRunBytes`.
    static let numbers: [String] = {
        var random = SplitMix64(seed: 0x5_4A2E)
        var texts: [String] = []
        var bytes = 0
        while bytes < 2 * sharedRunBytes {
            let x = Double(bitPattern: random.next())
            guard x.isFinite else { continue }
            texts.append(x.description)
            bytes += x.description.utf8.count + 1
        }
        return texts
    }()

    /// The number whose text holds the middle byte of the run: the cut is within 64 bytes after it.
    static let middle: Int = {
        let total = numbers.reduce(0) { $0 + $1.utf8.count + 1 }
        var offset = 0
        for (position, text) in numbers.enumerated() {
            offset += text.utf8.count + 1
            if offset >= total / 2 { return position }
        }
        return numbers.count / 2
    }()

    /// The parse of `body` by one thread, then by a pool's worker with another idle (again until
    /// that worker has helped with it, up to `tries` times): the two outcomes, and whether it helped.
    /// (The other worker may not start on its half before this one is done, on a busy machine or
    /// when the run is cut short early; the half is then left undone, and that parse not helped.)
    func outcomes(_ body: String, tries: Int = 20, sharedRunBytes: Int = Self.sharedRunBytes) async throws -> (
        alone: Result<JSONValue, JSONParser.Failure>, shared: Result<JSONValue, JSONParser.Failure>, helped: Bool
    ) {
        let bytes = Array(body.utf8)
        let alone = Result { () throws(JSONParser.Failure) in
            try JSONParser.parse(bytes, sharedRunBytes: sharedRunBytes)
        }
        let pool = WorkerPool(workers: 2, queueDepth: 0)
        var shared = alone
        for _ in 0..<tries where pool.helped == 0 {
            shared = try await pool.run {
                Result { () throws(JSONParser.Failure) in try JSONParser.parse(bytes, sharedRunBytes: sharedRunBytes) }
            }
        }
        return (alone, shared, pool.helped > 0)
    }

    @Test func aLongRunReadsTheSameShared() async throws {
        let body = #"{"x":["# + Self.numbers.joined(separator: ",") + #"],"y":1}"#
        let (alone, shared, helped) = try await outcomes(body, tries: 200)
        #expect(helped)
        let values = Self.numbers.map { Double($0)! }
        #expect(try alone.get() == .object(["x": .numbers(values), "y": .number(1)]))
        #expect(try shared.get() == alone.get())
    }

    @Test func rowsOfAGridReadTheSameShared() async throws {
        let row = "[" + Self.numbers.joined(separator: ",") + "]"
        let (alone, shared, helped) = try await outcomes("[" + row + "," + row + "]", tries: 200)
        #expect(helped)
        let values = Self.numbers.map { Double($0)! }
        #expect(try alone.get() == .grid(shape: [2, values.count], data: values + values))
        #expect(try shared.get() == alone.get())
    }

    /// Something other than a plain number near the cut, on either side of it: numbers the grammar
    /// refuses, one out of range, a number with a space before or after it (the run's fast loop
    /// stops there and the general steps go on), and a string (the array is boxed). (A nested
    /// array's `]` would end the run at the middle, moving the cut away from it.)
    @Test(arguments: ["1e999", "-", "01", " 5", "5 ", #""s""#])
    func anOddElementNearTheCutParsesTheSameShared(_ odd: String) async throws {
        var helpedAny = false
        for position in (Self.middle - 2)...(Self.middle + 6) {
            var texts = Self.numbers
            texts[position] = odd
            let (alone, shared, helped) = try await outcomes("[" + texts.joined(separator: ",") + "]")
            #expect(shared == alone, "\(odd) at \(position)")
            helpedAny = helpedAny || helped
        }
        #expect(helpedAny)
    }

    @Test func anOddElementFarFromTheCutParsesTheSameShared() async throws {
        var helpedAny = false
        let count = Self.numbers.count
        for position in [1, Self.middle / 2, Self.middle + (count - Self.middle) / 2, count - 1] {
            var texts = Self.numbers
            texts[position] = "1e999"
            let (alone, shared, helped) = try await outcomes("[" + texts.joined(separator: ",") + "]")
            helpedAny = helpedAny || helped
            guard case .failure = alone else {
                Issue.record("1e999 at \(position) was accepted")
                continue
            }
            #expect(shared == alone, "1e999 at \(position)")
        }
        #expect(helpedAny)
    }

    /// One byte of the run replaced at random, mostly near the cut (a comma, a space, a bracket, a
    /// sign, an exponent, a digit, a letter, a quote, a backslash): the same outcome either way.
    @Test func randomDamageParsesTheSameShared() async throws {
        var random = SplitMix64(seed: 0xDA_4A6E)
        let body = Array(("[" + Self.numbers.joined(separator: ",") + "]").utf8)
        let replacements = Array(", ][-e.0a\"\\".utf8)
        var helpedAny = false
        for round in 0..<100 {
            var damaged = body
            let spread = round % 2 == 0 ? 256 : body.count / 2
            let offset = Int(random.next() % UInt64(2 * spread)) - spread
            let position = max(1, min(body.count - 2, body.count / 2 + offset))
            damaged[position] = replacements[Int(random.next() % UInt64(replacements.count))]
            let text = String(decoding: damaged, as: UTF8.self)
            let (alone, shared, helped) = try await outcomes(text, tries: 3)
            #expect(shared == alone, "byte \(position) made \(UnicodeScalar(damaged[position]))")
            helpedAny = helpedAny || helped
        }
        #expect(helpedAny)
    }

    /// With any threshold, however small, short runs and runs cut off by the end of the body parse as
    /// one thread parses them (the cut is looked for only inside the run).
    @Test func shortRunsParseTheSameWithAnyThreshold() async throws {
        let bodies = ["[1]", "[1,2]", "[1,2,3]", "[12,3]", "[1,2,3,4,5,6]", "[1,", "[1,2", "[1,2,]", #"{"a":[1,2,3]}"#]
        for threshold in [0, 1, 2, 3, 5] {
            for body in bodies {
                let (alone, shared, _) = try await outcomes(body, tries: 3, sharedRunBytes: threshold)
                #expect(shared == alone, "\(body) from \(threshold) bytes")
            }
        }
    }
}
