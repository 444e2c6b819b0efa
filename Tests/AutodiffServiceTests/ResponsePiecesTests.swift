import AutodiffCore
import Foundation
import NIOCore
import Testing

@testable import AutodiffService

/// A response past `JSONWriter.pieceCapacity` is written in several buffers, none of them larger,
/// whose bytes in order are the text one buffer would hold; smaller ones stay in one buffer.
@Suite struct ResponsePiecesTests {
    /// Values whose texts are long (three of them 24 characters, the longest a float64 has).
    static let pattern: [Double] = [-1.2345678901234567e-300, 2.2250738585072014e-308, -9.876543210987654e+299, 0.1]

    static func tensor(rows: Int) throws -> Tensor {
        try Tensor(shape: [rows, 4], data: Array([[Double]](repeating: pattern, count: rows).joined()))
    }

    static func text(_ pieces: [ByteBuffer]) -> String {
        String(decoding: pieces.flatMap { Array($0.readableBytesView) }, as: UTF8.self)
    }

    /// Each piece within the capacity, and more than one of them.
    static func expectPieces(_ pieces: [ByteBuffer]) {
        #expect(pieces.count > 1)
        for piece in pieces { #expect(piece.capacity <= JSONWriter.pieceCapacity) }
    }

    @Test func decimalTextOfMoreThanOnePieceIsWrittenWhole() throws {
        let rows = 500_000  // 2 M numbers: about 40 MB of text
        let tensor = try Self.tensor(rows: rows)
        let row = Self.pattern.map(\.description).joined(separator: ",")
        let flat = try JSONOutput.tensor(tensor, .flat).serializedPieces()
        Self.expectPieces(flat)
        let data = Array(repeating: row, count: rows).joined(separator: ",")
        #expect(Self.text(flat) == #"{"shape":[\#(rows),4],"data":[\#(data)]}"#)
        let nested = try JSONOutput.tensor(tensor, .nested).serializedPieces()
        Self.expectPieces(nested)
        #expect(Self.text(nested) == "[" + Array(repeating: "[\(row)]", count: rows).joined(separator: ",") + "]")
    }

    @Test func base64OfMoreThanOnePieceIsWrittenWhole() throws {
        let rows = 1_100_000  // 4.4 M float64s: about 47 MB of base64
        let pieces = try JSONOutput.object([("y", .tensor(try Self.tensor(rows: rows), .base64))]).serializedPieces()
        Self.expectPieces(pieces)
        var bytes = Data()
        for x in Self.pattern { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        let all = Array(repeating: bytes, count: rows).reduce(into: Data()) { $0 += $1 }
        let expected = #"{"y":{"shape":[\#(rows),4],"dtype":"float64","base64":"\#(all.base64EncodedString())"}}"#
        #expect(Self.text(pieces) == expected)
    }

    @Test func aResponseWithinOnePieceIsOneBuffer() throws {
        let pieces = try JSONOutput.tensor(try Self.tensor(rows: 100_000), .flat).serializedPieces()
        #expect(pieces.count == 1)
    }
}
