import Testing

@testable import AutodiffService

/// The request parser: RFC 8259 strictness, bounded nesting, exact numbers.
@Suite struct JSONParserTests {
    func parse(_ text: String) throws(JSONParser.Failure) -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test func readsEveryKindOfValue() throws {
        let value = try parse(
            #" {"a": [1, -2.5e3, 0], "b": "x\"\u00e9\ud83d\ude00\n", "c": true, "d": null, "e": [1, "s"]} "#)
        let expected: JSONValue = .object([
            "a": .numbers([1, -2500, 0]),
            "b": .string("x\"é😀\n"),
            "c": .bool(true),
            "d": .null,
            "e": .array([.number(1), .string("s")]),
        ])
        #expect(value == expected)
    }

    @Test(arguments: [
        "", "{", "[1,]", "[1 2]", "01", "1.", "-", ".5", "1e", "tru", "\"\\x\"", "\"a", "{\"a\" 1}",
        "[\"\u{01}\"]", "\"\\ud800\"", "{} {}", "[1]x", "NaN", "Infinity",
    ])
    func refusesMalformedText(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    @Test func readsStringsAsUTF8AndRefusesInvalidBytes() throws {
        let quote = UInt8(ascii: "\"")
        let ascii = Array("base64+/abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        #expect(try JSONParser.parse([quote] + ascii + [quote]) == .string(String(decoding: ascii, as: UTF8.self)))
        let accented = "a long name, café and 😀 in the middle"
        #expect(try JSONParser.parse([quote] + Array(accented.utf8) + [quote]) == .string(accented))
        // A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, at and after
        // the eighth byte of a string (so both the word-at-a-time and the byte-at-a-time checks meet them).
        for invalid: [UInt8] in [[0x80], [0xC3], [0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xFF]] {
            for prefix in [0, 3, 8, 13] {
                let text = [quote] + Array(ascii.prefix(prefix)) + invalid + [quote]
                #expect(throws: JSONParser.Failure.malformed("a string is not valid UTF-8", offset: text.count)) {
                    try JSONParser.parse(text)
                }
            }
        }
    }

    @Test func boundsNestingInsteadOfOverflowingTheStack() {
        #expect(throws: JSONParser.Failure.tooDeep) { try parse(String(repeating: "[", count: 100_000)) }
        #expect(throws: JSONParser.Failure.tooDeep) { try parse(String(repeating: "{\"a\":", count: 100_000)) }
        let deepest =
            String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect(throws: Never.self) { try parse(deepest) }
    }

    @Test func refusesNumbersOutsideFloat64() {
        #expect(throws: JSONParser.Failure.numberOutOfRange("1e400")) { try parse("1e400") }
        #expect(throws: JSONParser.Failure.self) { try parse("-" + String(repeating: "9", count: 400)) }
        #expect(throws: Never.self) { try parse("1e-400") }
    }

    @Test func digitRunsEndAtTheFirstNonDigitWhereverItFalls() throws {
        // Runs of every length up to 24 cross the eight-byte steps of the digit scan at every offset;
        // ':' and '/' are the bytes just above and below the digits.
        for length in 1...24 {
            let digits = String((0..<length).map { Character(String(($0 * 7 + 1) % 9 + 1)) })
            for text in [digits, "-\(digits)", "\(digits).\(digits)", "1.\(digits)e-\(length)"] {
                #expect(try parse(text) == .number(try #require(Double(text))), "\(text)")
                #expect(try parse("[\(text),\(text)]") == .numbers([Double(text) ?? 0, Double(text) ?? 0]))
                let bytes = Array("[\(text):]".utf8)
                let colon = JSONParser.Failure.malformed("expected ',' or ']' in an array", offset: bytes.count - 2)
                #expect(throws: colon) { try JSONParser.parse(bytes) }
            }
            #expect(throws: JSONParser.Failure.malformed("invalid number", offset: length + 1)) {
                try parse("\(digits)./")
            }
        }
    }

    /// A run of numbers with bare commas between them (read by a loop of its own) ends wherever
    /// anything else comes, and what follows reads, or fails, as anywhere else in an array.
    @Test func numberRunsEndAtAnythingButABareCommaAndANumber() throws {
        #expect(try parse("[1,-2,3.5e1, 4,5]") == .numbers([1, -2, 35, 4, 5]))
        #expect(try parse("[1,2\n,3]") == .numbers([1, 2, 3]))
        #expect(try parse("[1,2,[3]]") == .array([.number(1), .number(2), .numbers([3])]))
        #expect(try parse("[1,2,\"a\",3]") == .array([.number(1), .number(2), .string("a"), .number(3)]))
        #expect(try parse("[[1,2],[3,4]]") == .grid(shape: [2, 2], data: [1, 2, 3, 4]))
        #expect(throws: JSONParser.Failure.malformed("invalid number", offset: 6)) { try parse("[1,2,-]") }
        #expect(throws: JSONParser.Failure.malformed("unexpected character", offset: 5)) { try parse("[1,2,]") }
        #expect(throws: JSONParser.Failure.malformed("unexpected end of input", offset: 6)) { try parse("[1,2,3") }
        #expect(throws: JSONParser.Failure.malformed("expected ',' or ']' in an array", offset: 6)) {
            try parse("[1,2,01]")
        }
        #expect(throws: JSONParser.Failure.numberOutOfRange("1e400")) { try parse("[1,2,1e400,3]") }
    }

    // MARK: Offering a member's text

    /// Parses `text`, offering `"graph"`; `reuse` takes exactly the texts in `known`.
    func parse(_ text: String, known: Set<String>) throws(JSONParser.Failure) -> (JSONValue, String?, Bool?) {
        let bytes = Array(text.utf8)
        let (value, offered) = try JSONParser.parse(bytes, offering: "graph") { text in
            known.contains(String(decoding: text, as: UTF8.self))
        }
        return (value, offered.map { String(decoding: bytes[$0.span], as: UTF8.self) }, offered?.reused)
    }

    @Test func anOfferedTextThatIsTakenIsLeftOutAndTheRestParsed() throws {
        let graph = #"{"k": [1, "}\"]"], "n": {"m": "{"}}"#
        let text = #"{"a": 1, "graph": \#(graph), "b": [2]}"#
        let (taken, takenText, reused) = try parse(text, known: [graph])
        #expect(taken == .object(["a": .number(1), "b": .numbers([2])]))
        #expect(takenText == graph)
        #expect(reused == true)
        let (parsed, parsedText, parsedReused) = try parse(text, known: [])
        #expect(parsed == (try parse(text)))
        #expect(parsedText == graph)
        #expect(parsedReused == false)
    }

    @Test func onlyATopLevelObjectValueIsOffered() throws {
        for text in [#"{"o": {"graph": {}}}"#, #"{"graph": [1]}"#, #"{"graph": "{}"}"#, #"[{"graph": {}}]"#] {
            let (value, _, reused) = try parse(text, known: ["{}"])
            #expect(value == (try parse(text)), "\(text)")
            #expect(reused != true, "\(text)")
        }
    }

    @Test func theLastValueOfARepeatedKeyWinsWhetherTakenOrNot() throws {
        let text = #"{"graph": {"k": 1}, "graph": {"k": 2}}"#
        let (firstKnown, _, firstReused) = try parse(text, known: [#"{"k": 1}"#])
        #expect(firstKnown == .object(["graph": .object(["k": .number(2)])]))
        #expect(firstReused == false)
        let (lastKnown, lastText, lastReused) = try parse(text, known: [#"{"k": 2}"#])
        #expect(lastKnown == .object([:]))
        #expect(lastText == #"{"k": 2}"#)
        #expect(lastReused == true)
    }

    @Test(arguments: [
        #"{"graph": {"k": 1}, ]"#, #"{"graph": {"k": 1}} x"#, #"{"graph": {"k": 1}, "v": [1,]}"#,
        #"{"graph": {"k": "1"#, #"{"graph": {"k": 1}"#, #"{"graph": {"k": "\"#,
    ])
    func errorsAroundAnOfferedTextAreUnchanged(_ text: String) {
        let plain = Result { () throws(JSONParser.Failure) -> JSONValue in try parse(text) }
        let offered = Result { () throws(JSONParser.Failure) -> JSONValue in try parse(text, known: [#"{"k": 1}"#]).0 }
        #expect(offered == plain)
        #expect(throws: JSONParser.Failure.self) { try plain.get() }
    }

    @Test func writerRoundTripsNumbersAndEscapes() throws {
        let values: [Double] = [0.1, 1.0 / 3, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e21, 123]
        let text = try JSONOutput.array(values.map(JSONOutput.number) + [.string("q\"\\\n\u{02}é")]).serialized()
        guard case .array(let items) = try JSONParser.parse(text) else {
            Issue.record("not an array")
            return
        }
        #expect(
            items.dropLast().map { if case .number(let x) = $0 { x.bitPattern } else { 0 } } == values.map(\.bitPattern)
        )
        #expect(items.last == .string("q\"\\\n\u{02}é"))
    }
}
