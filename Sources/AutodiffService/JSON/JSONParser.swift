import AutodiffCore
import CFastFloat
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A strict RFC 8259 parser over raw bytes.
///
/// Why not Foundation's: measured with Swift 6.3.1 on Linux, `JSONSerialization` reads about one
/// double in five one or two ulps off (`0.30000000000000004` comes back as `0.3000000000000001`),
/// which breaks float64 fidelity; `JSONDecoder` reads doubles exactly but accepts trailing commas
/// (`[1,]`), reports errors without a position, and took 1.8 s to read a million numbers.
/// Responses are written by `JSONWriter`, base64 by `Base64`.
///
/// Rectangular arrays of numbers, nested or not, are read straight into one `[Double]` with their
/// shape (`numbers`, `grid`): numbers go to a scratch array as they are read, and an array's
/// elements become `JSONValue`s only if it turns out not to be rectangular numbers, so tensors are
/// never boxed one number at a time. Numbers are read by fast_float (exact, as `strtod`).
///
/// Nesting is bounded (`maxDepth`) so hostile input such as 100 000 `[` cannot exhaust the stack;
/// numbers that overflow float64 (`1e400`) are refused rather than silently becoming infinity.
struct JSONParser {
    /// The deepest nesting of arrays and objects a request may use.
    static let maxDepth = 256

    /// Why a body is not acceptable JSON.
    enum Failure: Error, Equatable {
        /// The bytes are not JSON; `offset` is where parsing stopped.
        case malformed(String, offset: Int)
        /// Arrays and objects nest deeper than `maxDepth`.
        case tooDeep
        /// A number literal outside the float64 range; the text is shortened for messages.
        case numberOutOfRange(String)
    }

    /// The document, valid during `parse`. Every read is behind an `index < bytes.count` check.
    private let bytes: UnsafeBufferPointer<UInt8>
    /// The same bytes as an array, which `base64Text` values share.
    private let body: [UInt8]
    /// The shortest string of a `"base64"` member kept as `base64Text`.
    static let minimumBase64Text = 256
    private var index = 0
    private var depth = 0
    /// The numbers of the arrays being read that are, so far, rectangular arrays of numbers.
    private var scratch: [Double] = []
    /// The fewest bytes of a run of numbers shared with an idle worker (`JSONParser.sharedRunBytes`).
    private var sharedRunBytes = JSONParser.sharedRunBytes
    /// Where the last `runCut` search ended (the `]` it found, or the end): no cut is looked for
    /// again before it, so each byte is searched once and each array cut once at most.
    private var noCutBefore = 0

    /// An array read by `parseArray`: either a value, or rectangular numbers still in `scratch`.
    private enum ParsedArray {
        case value(JSONValue)
        /// `shape` numbers in row-major order at `scratch[start...]`.
        case packed(shape: [Int], start: Int)
    }

    /// The top-level member whose object value is first offered, as text, to `reuse`.
    private let offeredKey: String?
    private let reuse: (UnsafeBufferPointer<UInt8>) -> Bool
    /// Where the last value of `offeredKey` is, and whether `reuse` took it.
    private var offered: OfferedMember?

    /// The value of the member a caller asked to be offered its text.
    struct OfferedMember {
        /// The bytes of its value in the document.
        let span: Range<Int>
        /// True when `reuse` took the text, so the member was left out of the parsed document.
        let reused: Bool
    }

    private init(
        _ bytes: UnsafeBufferPointer<UInt8>, of body: [UInt8], offering key: String?,
        to reuse: @escaping (UnsafeBufferPointer<UInt8>) -> Bool
    ) {
        self.bytes = bytes
        self.body = body
        self.offeredKey = key
        self.reuse = reuse
    }

    /// Parses a complete document; trailing non-whitespace is an error. Runs of numbers of at least
    /// `sharedRunBytes` are read in two halves when a worker is idle (see `readNumberRun`).
    static func parse(_ bytes: [UInt8], sharedRunBytes: Int = sharedRunBytes) throws(Failure) -> JSONValue {
        try parse(bytes, offering: nil, sharedRunBytes: sharedRunBytes) { _ in false }.value
    }

    /// Parses a complete document, except that when its top level is an object whose member `key`
    /// has an object value, that value's text is first offered to `reuse`. If `reuse` takes it (it
    /// already holds what the text means, from an earlier parse of the same bytes), the text is
    /// skipped and the member left out; otherwise it is parsed as usual. Either way `offered` says
    /// where the member's last value is, so a caller can keep its text; the document is checked in
    /// full everywhere else, so errors and their offsets do not change.
    static func parse(
        _ bytes: [UInt8], offering key: String?, sharedRunBytes: Int = sharedRunBytes,
        to reuse: @escaping (UnsafeBufferPointer<UInt8>) -> Bool
    ) throws(Failure) -> (value: JSONValue, offered: OfferedMember?) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(Failure) -> (JSONValue, OfferedMember?) in
            var parser = JSONParser(buffer, of: bytes, offering: key, to: reuse)
            parser.sharedRunBytes = sharedRunBytes
            parser.skipWhitespace()
            let value = try parser.parseValue()
            parser.skipWhitespace()
            guard parser.index == parser.bytes.count else {
                throw parser.malformed("unexpected data after the document")
            }
            return (value, parser.offered)
        }
    }

    // MARK: Values

    private mutating func parseValue() throws(Failure) -> JSONValue {
        guard index < bytes.count else { throw malformed("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return materialize(try parseArray())
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw malformed("unexpected character")
        }
    }

    private mutating func enterContainer() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else {
            throw .tooDeep
        }
        index += 1
        skipWhitespace()
    }

    private mutating func parseArray() throws(Failure) -> ParsedArray {
        try enterContainer()
        defer { depth -= 1 }
        let start = scratch.count
        if try consume(UInt8(ascii: "]")) { return .packed(shape: [0], start: start) }
        // While `items` is nil, every element so far was rectangular numbers of shape `element`
        // (`[]`: plain numbers), all in `scratch[start...]`.
        var count = 0
        var element: [Int] = []
        var items: [JSONValue]?
        while true {
            let byte = bytes[index]
            if byte == UInt8(ascii: "-") || isDigit(byte) {
                let x = try parseNumber()
                if items == nil, element.isEmpty {
                    scratch.append(x)
                    try readNumberRun(count: &count)
                } else {
                    box(&items, count: count, element: element, start: start)
                    items?.append(.number(x))
                }
            } else if byte == UInt8(ascii: "[") {
                let child = try parseArray()
                if items == nil, case .packed(let shape, _) = child, count == 0 || shape == element {
                    element = shape
                } else {
                    let value = materialize(child)
                    box(&items, count: count, element: element, start: start)
                    items?.append(value)
                }
            } else {
                let value = try parseValue()
                box(&items, count: count, element: element, start: start)
                items?.append(value)
            }
            count += 1
            skipWhitespace()
            if try consume(UInt8(ascii: "]")) { break }
            guard try consume(UInt8(ascii: ",")) else { throw malformed("expected ',' or ']' in an array") }
            skipWhitespace()
            guard index < bytes.count else { throw malformed("unexpected end of input") }
        }
        if let items { return .value(.array(items)) }
        return .packed(shape: [count] + element, start: start)
    }

    // MARK: Runs of numbers

    /// The fewest bytes of a run of numbers for `readNumberRun` to share it with an idle worker
    /// (about 50,000 numbers, 1–2 ms of reading).
    static let sharedRunBytes = 1 << 20

    /// Reads the numbers after the one just read while each has a bare comma before it (a tensor's
    /// data; the general steps of `parseArray` would take the same ones), into `scratch`, counting
    /// them in `count`. A long run is cut in two at a comma near its middle: an idle worker, if there
    /// is one (`WorkSharing.share`), reads the numbers after the cut while this one reads up to it,
    /// and they are taken if this reading reaches the cut. A number reads the same wherever it is
    /// read, so the values are as without, and where the worker stopped (the run's end, or a number
    /// it could not read) the reading here goes on, to meet the same end or error.
    private mutating func readNumberRun(count: inout Int) throws(Failure) {
        if let cut = runCut() {
            let later = LaterNumbers(bytes, from: cut + 1)
            var failure: Failure?
            let shared = WorkSharing.share({ later.read() }) {
                do throws(Failure) {
                    try readNumbers(until: cut, count: &count)
                } catch {
                    failure = error
                }
                later.wanted.store(failure == nil && index == cut, ordering: .relaxed)
            }
            if let failure { throw failure }
            if shared, index == cut, let end = later.end {
                scratch.append(contentsOf: later.values)
                count += later.values.count
                index = end
            }
        }
        try readNumbers(until: bytes.count, count: &count)
    }

    /// `readNumberRun`'s loop, stopping early at `stop`.
    private mutating func readNumbers(until stop: Int, count: inout Int) throws(Failure) {
        while index != stop, index + 1 < bytes.count, bytes[index] == UInt8(ascii: ","),
            isNumberStart(bytes[index + 1])
        {
            index += 1
            scratch.append(try parseNumber())
            count += 1
        }
    }

    /// Where the run of numbers at `index` may be cut in two, if it is at least `sharedRunBytes`
    /// long: a comma with a number after it at, or within 64 bytes after, the middle of the text up
    /// to the next `]` (where a well-formed run ends). Nil for a shorter run, or without such a comma.
    /// (A run the loop cannot read in a row, `0.5, 0.5, …`, comes here after every number: searching
    /// to its `]` each time made a 1.5 MB array take 5 s to read, and a 5 MB one minutes.)
    private mutating func runCut() -> Int? {
        guard index >= noCutBefore, bytes.count - index >= sharedRunBytes, let base = bytes.baseAddress else {
            return nil
        }
        guard let bracket = memchr(base + index, Int32(UInt8(ascii: "]")), bytes.count - index) else {
            noCutBefore = bytes.count
            return nil
        }
        let length = UnsafeRawPointer(bracket) - UnsafeRawPointer(base + index)
        noCutBefore = index + length
        guard length >= sharedRunBytes else { return nil }
        let middle = index + length / 2
        // Up to 64 bytes on, and short of the bracket, so `cut + 1` is in the run however short.
        let end = Swift.min(middle + 64, index + length - 1)
        for cut in middle..<Swift.max(middle, end)
        where bytes[cut] == UInt8(ascii: ",") && isNumberStart(bytes[cut + 1]) {
            return cut
        }
        return nil
    }

    /// The numbers from one position of a body on, each after a bare comma but the first, read by
    /// another worker (`readNumberRun`) until they end, one cannot be read, or they are not wanted.
    private final class LaterNumbers: @unchecked Sendable {
        private let bytes: UnsafeBufferPointer<UInt8>
        private let start: Int
        /// Cleared when the run being read reaches no further than the start of these.
        let wanted = Atomic(true)
        /// What `read` found, and where the last of them ends (nil if it read none, or stopped).
        private(set) var values: [Double] = []
        private(set) var end: Int?

        /// The body outlives this: `WorkSharing.share` returns only once `read` has.
        init(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) {
            self.bytes = bytes
            self.start = start
        }

        func read() {
            guard wanted.load(ordering: .relaxed) else { return }
            var parser = JSONParser(bytes, of: [], offering: nil) { _ in false }
            parser.index = start
            var last = start - 1
            do throws(Failure) {
                parser.scratch.append(try parser.parseNumber())
                last = parser.index
                while parser.index + 1 < bytes.count, bytes[parser.index] == UInt8(ascii: ","),
                    parser.isNumberStart(bytes[parser.index + 1])
                {
                    // Checked now and then, so a run that ended before `start` waits little for this.
                    if parser.scratch.count % 4096 == 0, !wanted.load(ordering: .relaxed) { return }
                    parser.index += 1
                    parser.scratch.append(try parser.parseNumber())
                    last = parser.index
                }
            } catch {
                // The run goes on to meet it.
            }
            values = parser.scratch
            end = last
        }
    }

    /// Turns the `count` packed elements of shape `element` at `scratch[start...]` into values,
    /// unless `items` already holds them.
    private mutating func box(_ items: inout [JSONValue]?, count: Int, element: [Int], start: Int) {
        guard items == nil else { return }
        let size = element.reduce(1, *)
        var boxed: [JSONValue] = []
        boxed.reserveCapacity(count + 1)
        for position in 0..<count {
            let first = start + position * size
            boxed.append(JSONValue(shape: element, data: scratch[first..<first + size]))
        }
        scratch.removeSubrange(start...)
        items = boxed
    }

    /// The value of a parsed array, taking packed numbers out of `scratch`.
    private mutating func materialize(_ array: ParsedArray) -> JSONValue {
        switch array {
        case .value(let value):
            return value
        case .packed(let shape, let start) where start == 0 && shape.count > 0:
            // The whole scratch array (a tensor not inside another array): handed over, not copied.
            var data: [Double] = []
            swap(&data, &scratch)
            return shape.count == 1 ? .numbers(data) : .grid(shape: shape, data: data)
        case .packed(let shape, let start):
            let value = JSONValue(shape: shape, data: scratch[start...])
            scratch.removeSubrange(start...)
            return value
        }
    }

    private mutating func parseObject() throws(Failure) -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var fields: [String: JSONValue] = [:]
        if try consume(UInt8(ascii: "}")) { return .object(fields) }
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw malformed("expected a string key in an object")
            }
            let key = try parseString()
            skipWhitespace()
            guard try consume(UInt8(ascii: ":")) else { throw malformed("expected ':' after an object key") }
            skipWhitespace()
            if depth == 1, key == offeredKey {
                try parseOfferedValue(of: key, into: &fields)
            } else if key == "base64" {
                fields[key] = try parseBase64Member()
            } else {
                fields[key] = try parseValue()
            }
            skipWhitespace()
            if try consume(UInt8(ascii: "}")) { break }
            guard try consume(UInt8(ascii: ",")) else { throw malformed("expected ',' or '}' in an object") }
            skipWhitespace()
        }
        return .object(fields)
    }

    /// The value of the offered member: skipped if `reuse` takes its text, parsed otherwise. A
    /// later value of the same key replaces an earlier one either way, as for any other key.
    private mutating func parseOfferedValue(of key: String, into fields: inout [String: JSONValue]) throws(Failure) {
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "{"), let end = endOfContainer(),
            reuse(UnsafeBufferPointer(rebasing: bytes[start..<end]))
        {
            // `reuse` knows these exact bytes as a valid object, and an object's text ends where its
            // brackets close, so parsing them would have stopped at `end` too.
            index = end
            fields[key] = nil
            offered = OfferedMember(span: start..<end, reused: true)
        } else {
            fields[key] = try parseValue()
            offered = OfferedMember(span: start..<index, reused: false)
        }
    }

    /// Where the array or object at `index` ends, found by counting brackets outside strings, or
    /// `nil` if the document ends first. Checks nothing else: it only proposes a span to offer.
    private mutating func endOfContainer() -> Int? {
        let start = index
        defer { index = start }
        var open = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                open += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                open -= 1
                if open == 0 { return index }
            case UInt8(ascii: "\""):
                while true {
                    skipPlainCharacters()
                    guard index < bytes.count else { return nil }
                    let stop = bytes[index]
                    index += stop == UInt8(ascii: "\\") ? 2 : 1
                    if stop == UInt8(ascii: "\"") { break }
                }
            default:
                break
            }
        }
        return nil
    }

    /// The value of a `"base64"` member: a long string of base64 characters (a tensor's base64, with
    /// no escapes) is kept as its bytes in the body; anything else is parsed as usual, so what is
    /// accepted, the errors and their offsets do not change.
    private mutating func parseBase64Member() throws(Failure) -> JSONValue {
        let start = index + 1
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            let end = start + base64Span(from: start)
            if end < bytes.count, bytes[end] == UInt8(ascii: "\""), end - start >= Self.minimumBase64Text {
                index = end + 1
                return .base64Text(body[start..<end])
            }
        }
        return try parseValue()
    }

    /// How many bytes from `start` on are base64 characters (`Base64.span`). Past a first stretch of
    /// `sharedSpanProbe` bytes, a long rest of the body (`Base64.sharedTextBytes` or more) is scanned
    /// in two halves when a worker is idle (`WorkSharing.share`): the later half counts only if the
    /// earlier one is base64 to its end, and it stops soon after the earlier one finds the end, so a
    /// short text costs no more than its own length.
    private func base64Span(from start: Int) -> Int {
        let rest = UnsafeBufferPointer(rebasing: bytes[start...])
        let probe = Swift.min(rest.count, Self.sharedSpanProbe)
        let first = Base64.span(UnsafeBufferPointer(rebasing: rest[..<probe]))
        guard first == probe, rest.count - probe >= Base64.sharedTextBytes else {
            return first < probe ? first : probe + Base64.span(UnsafeBufferPointer(rebasing: rest[probe...]))
        }
        let cut = probe + (rest.count - probe) / 2 / 64 * 64
        let later = LaterSpan(UnsafeBufferPointer(rebasing: rest[cut...]))
        var here = 0
        let shared = WorkSharing.share({ later.scan() }) {
            here = Base64.span(UnsafeBufferPointer(rebasing: rest[probe..<cut]))
            if probe + here < cut { later.wanted.store(false, ordering: .relaxed) }
        }
        guard probe + here == cut else { return probe + here }
        if shared, let length = later.length { return cut + length }
        return cut + Base64.span(UnsafeBufferPointer(rebasing: rest[cut...]))
    }

    /// The bytes `base64Span` scans before it considers sharing the rest: most tensors' text ends
    /// within them, and then no worker is woken.
    static let sharedSpanProbe = 1 << 16

    /// The later half of a `base64Span`, scanned by another worker a block at a time until a byte
    /// that is not base64, the end of the body, or it is not wanted.
    private final class LaterSpan: @unchecked Sendable {
        private let text: UnsafeBufferPointer<UInt8>
        /// Cleared when the earlier half found the end of the base64 text.
        let wanted = Atomic(true)
        /// How many bytes from the start of `text` are base64 (nil if it stopped, not wanted).
        private(set) var length: Int?

        /// The body outlives this: `WorkSharing.share` returns only once `scan` has.
        init(_ text: UnsafeBufferPointer<UInt8>) {
            self.text = text
        }

        func scan() {
            var read = 0
            while read < text.count {
                guard wanted.load(ordering: .relaxed) else { return }
                let block = Swift.min(text.count - read, JSONParser.sharedSpanProbe)
                let span = Base64.span(UnsafeBufferPointer(rebasing: text[read..<read + block]))
                read += span
                if span < block { break }
            }
            length = read
        }
    }

    // MARK: Scalars

    /// Reads a number in one pass: its digits are scanned and gathered into a mantissa and a decimal
    /// exponent together, which fast_float's last step turns into the float64 when the mantissa
    /// holds all of them (at most 19, as `0.5811521325045647` or `-1.2345678901234567e-05`); longer
    /// numbers, and the rare ones Eisel-Lemire cannot decide, are read again from their text.
    private mutating func parseNumber() throws(Failure) -> Double {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw malformed("invalid number") }
        var mantissa: UInt64 = 0
        var digits = 0
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            digits = 1
        } else {
            readDigits(into: &mantissa, counting: &digits)
        }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw malformed("invalid number") }
            let integerDigits = digits
            readDigits(into: &mantissa, counting: &digits)
            exponent = integerDigits - digits
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var negativeExponent = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                negativeExponent = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw malformed("invalid number") }
            // Past 65536 the value is an infinity or 0 whatever the digits (fast_float stops there too).
            var written = 0
            while index < bytes.count, isDigit(bytes[index]) {
                if written < 0x10000 { written = written * 10 + Int(bytes[index] &- UInt8(ascii: "0")) }
                index += 1
            }
            exponent += negativeExponent ? -written : written
        }
        var value = 0.0
        if digits > 19 || !autodiffd_decimal_to_double(mantissa, Int64(exponent), negative, &value) {
            let length = index - start
            let read =
                bytes.baseAddress.map { base in
                    UnsafeRawPointer(base + start).withMemoryRebound(to: CChar.self, capacity: length) {
                        autodiffd_parse_double($0, length, &value)
                    }
                } ?? 0
            guard read == length else { throw numberOutOfRange(from: start) }
        }
        guard value.isFinite else { throw numberOutOfRange(from: start) }
        return value
    }

    /// The number from `start` to `index`, shortened for a message.
    private func numberOutOfRange(from start: Int) -> Failure {
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        return .numberOutOfRange(text.count > 40 ? String(text.prefix(40)) + "…" : text)
    }

    private mutating func parseString() throws(Failure) -> String {
        index += 1  // opening quote
        var scalars: [UInt8] = []
        var escaped = false
        var start = index
        while true {
            skipPlainCharacters()
            guard index < bytes.count else { throw malformed("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                break
            }
            guard byte >= 0x20 else { throw malformed("unescaped control character in a string") }
            scalars.append(contentsOf: bytes[start..<index])
            try appendEscape(to: &scalars)
            escaped = true
            start = index
        }
        // Without escapes (base64 text, names) the string is read straight from the body.
        let string: String?
        if escaped {
            scalars.append(contentsOf: bytes[start..<index])
            string = String(validating: scalars, as: UTF8.self)
        } else {
            string = Self.string(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        }
        index += 1  // closing quote
        guard let string else { throw malformed("a string is not valid UTF-8") }
        return string
    }

    /// `text` as a string, nil if it is not valid UTF-8. ASCII (names, base64), checked eight bytes at
    /// a time, is copied as it is: `String(validating:)` is generic, and its unspecialised validation
    /// looked up type metadata at run time for every string.
    private static func string(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        var ascii = true
        var position = 0
        if let base = text.baseAddress {
            let raw = UnsafeRawPointer(base)
            var high: UInt64 = 0
            while position + 8 <= text.count {
                high |= raw.loadUnaligned(fromByteOffset: position, as: UInt64.self)
                position += 8
            }
            ascii = high & 0x8080_8080_8080_8080 == 0
        }
        while ascii, position < text.count {
            ascii = text[position] < 0x80
            position += 1
        }
        guard ascii else { return String(validating: text, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: text.count) { buffer in
            _ = buffer.initialize(fromContentsOf: text)
            return text.count
        }
    }

    /// Decodes the escape sequence at `index` (a backslash) into UTF-8.
    private mutating func appendEscape(to output: inout [UInt8]) throws(Failure) {
        index += 1
        guard index < bytes.count else { throw malformed("unterminated escape sequence") }
        let escaped = bytes[index]
        index += 1
        switch escaped {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escaped)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            var code = try parseHex4()
            if (0xD800..<0xDC00).contains(code) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { throw malformed("unpaired UTF-16 surrogate") }
                index += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw malformed("unpaired UTF-16 surrogate") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else { throw malformed("unpaired UTF-16 surrogate") }
            output.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw malformed("invalid escape sequence")
        }
    }

    private mutating func parseHex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw malformed("truncated \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw malformed("invalid \\u escape")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    // MARK: Helpers

    private mutating func expectLiteral(_ literal: StaticString) throws(Failure) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw malformed("unexpected end of input") }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw malformed("unexpected character") }
        index += count
    }

    private mutating func consume(_ byte: UInt8) throws(Failure) -> Bool {
        guard index < bytes.count else { throw malformed("unexpected end of input") }
        guard bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Moves `index` to the next `"`, `\\` or control character of a string (or the end), eight bytes
    /// at a time where none is among them.
    private mutating func skipPlainCharacters() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while index + 8 <= bytes.count {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
                let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
                // A byte is flagged if it is zero in `quote` or `backslash`, or below 0x20 in `word`.
                let flagged =
                    ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
                if flagged & highs != 0 { break }
                index += 8
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return }
            index += 1
        }
    }

    /// Moves `index` past a run of digits, adding them to `mantissa` (which wraps past 19 digits;
    /// `count` says how many there were) eight at a time while it can: numbers of 17 significant
    /// digits are most of a tensor's text. The position and the sums live in locals, so the loop
    /// keeps them in registers.
    @inline(__always)
    private mutating func readDigits(into mantissa: inout UInt64, counting count: inout Int) {
        var position = index
        var sum = mantissa
        defer {
            count += position - index
            index = position
            mantissa = sum
        }
        guard let base = bytes.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        while position + 8 <= bytes.count {
            let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            // All eight are digits exactly when each byte's high nibble is 3 and adding 6 keeps it 3.
            // (A byte that carries into the next when 6 is added has a high nibble F, and fails anyway.)
            let highs: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
            let digits = (word & highs) | (((word &+ 0x0606_0606_0606_0606) & highs) >> 4)
            guard digits == 0x3333_3333_3333_3333 else { break }
            sum = sum &* 100_000_000 &+ Self.value(ofEightDigits: word)
            position += 8
        }
        while position < bytes.count, isDigit(base[position]) {
            sum = sum &* 10 &+ UInt64(base[position] &- UInt8(ascii: "0"))
            position += 1
        }
    }

    /// The value of eight ASCII digits loaded little-endian (the first digit in the low byte): pairs,
    /// then fours, then the eight combined in the lanes of one word (fast_float's
    /// `parse_eight_digits_unrolled`).
    private static func value(ofEightDigits word: UInt64) -> UInt64 {
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        let pairs = (word &- 0x3030_3030_3030_3030) &* 10 &+ ((word &- 0x3030_3030_3030_3030) >> 8)
        let fours = (pairs & mask) &* (100 + (1_000_000 << 32)) &+ ((pairs >> 16) & mask) &* (1 + (10_000 << 32))
        return fours >> 32
    }

    private func isNumberStart(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "-") || isDigit(byte)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private func malformed(_ reason: String) -> Failure {
        .malformed(reason, offset: index)
    }
}
