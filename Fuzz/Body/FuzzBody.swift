// libFuzzer target for whole request bodies: the first byte picks the endpoint (forward, backward,
// jacobian, jvp, hvp, or graph registration) and a set of limits; the rest is the body, which goes
// through exactly what a worker does with it (`AutodiffAPI.respond` / `AutodiffAPI.register`):
// the JSON reader, the wire decoding, graph building, planning, the computation and the response
// rendering.
//
// A client error is fine. A trap, a sanitizer report (leaks included), a run past libFuzzer's
// -timeout, an error that maps to `500 internal`, a 200 whose body our own strict JSON reader cannot
// read back, or a repeated call (answered from the plan cache) whose bytes differ is a bug. Build and
// run with Fuzz/run-body.sh.
//
// Every input's graph cache holds one registered graph, `registered`, and `@R` in a body stands for
// its id, so calls on a registered graph (`"graph_id": "@R"`) reach the computation too.
import AutodiffCore
import NIOCore

@testable import AutodiffService

private let limitChoices = [
    Limits(maxNodes: 50, maxElements: 4096, maxBytes: 1 << 22, maxWork: 1 << 24, maxNames: 16, maxArgs: 8),
    // Without an element bound, the byte and work bounds alone must keep every loop and allocation small.
    Limits(maxNodes: 50, maxElements: .max, maxBytes: 1 << 22, maxWork: 1 << 24, maxNames: 16, maxArgs: 8),
]

private func code(of error: any Error) -> ErrorCode? {
    switch error {
    case let error as APIError: error.code
    case let error as AutodiffError: error.code
    default: nil
    }
}

/// The graph registered for every input; `@R` in a body is replaced by its id.
private let registered = Array(
    (#"{"graph":{"inputs":["x","W"],"constants":{"half":0.5},"nodes":[{"id":"h","op":"matmul","args":["x","W"]},"#
        + #"{"id":"y","op":"tanh","args":["h"]},{"id":"s","op":"mul","args":["y","half"]},"#
        + #"{"id":"total","op":"sum","args":["s"]}]}}"#).utf8)

/// `body` with every `@R` replaced by `id`.
private func substituting(_ id: String, in body: [UInt8]) -> [UInt8] {
    let (at, r) = (UInt8(ascii: "@"), UInt8(ascii: "R"))
    var result: [UInt8] = []
    result.reserveCapacity(body.count)
    var index = 0
    while index < body.count {
        if body[index] == at, index + 1 < body.count, body[index + 1] == r {
            result += id.utf8
            index += 2
        } else {
            result.append(body[index])
            index += 1
        }
    }
    return result
}

/// One call as a worker makes it, with the caches it is given.
private func respond(
    to body: [UInt8], endpoint: Int, limits: Limits, graphs: GraphCache, plans: PlanCache
) throws -> ByteBuffer {
    let deadline = ContinuousClock.now + .seconds(5)
    switch endpoint {
    case 0: return JSONWriter.joined(try AutodiffAPI.respond(
        ForwardComputation.self, to: body, limits: limits, graphs: graphs, plans: plans, deadline: deadline))
    case 1: return JSONWriter.joined(try AutodiffAPI.respond(
        BackwardComputation.self, to: body, limits: limits, graphs: graphs, plans: plans, deadline: deadline))
    case 2: return JSONWriter.joined(try AutodiffAPI.respond(
        JacobianComputation.self, to: body, limits: limits, graphs: graphs, plans: plans, deadline: deadline))
    case 3: return JSONWriter.joined(try AutodiffAPI.respond(
        JVPComputation.self, to: body, limits: limits, graphs: graphs, plans: plans, deadline: deadline))
    case 4: return JSONWriter.joined(try AutodiffAPI.respond(
        HVPComputation.self, to: body, limits: limits, graphs: graphs, plans: plans, deadline: deadline))
    default: return try AutodiffAPI.register(body, limits: limits, graphs: graphs).1
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBody(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = Int(data[0])
    let (endpoint, limits) = (selector % 6, limitChoices[(selector / 8) % limitChoices.count])
    // Caches of this input alone, so that LeakSanitizer sees everything freed at its end.
    let (graphs, plans) = (GraphCache(capacity: 8, maxBytes: 1 << 20), PlanCache(capacity: 8, maxSlots: 4096))
    let id: String
    do {
        id = try AutodiffAPI.register(registered, limits: limits, graphs: graphs).0
    } catch {
        fatalError("the fuzzer's own graph was refused: \(error)")
    }
    let body = substituting(id, in: Array(UnsafeBufferPointer(start: data + 1, count: size - 1)))
    let first: ByteBuffer
    do {
        first = try respond(to: body, endpoint: endpoint, limits: limits, graphs: graphs, plans: plans)
    } catch {
        guard let code = code(of: error), code != .internal else { fatalError("a body answered 500: \(error)") }
        return 0
    }
    let text = { (reply: ByteBuffer) in String(decoding: reply.readableBytesView.prefix(2000), as: UTF8.self) }
    do {
        _ = try JSONParser.parse(Array(first.readableBytesView))
    } catch {
        fatalError("a 200 that our own JSON reader refuses (\(error)): \(text(first))")
    }
    // The same call again is answered from the plan cache: it must give the same bytes.
    do {
        let again = try respond(to: body, endpoint: endpoint, limits: limits, graphs: graphs, plans: plans)
        guard again == first else {
            fatalError("a repeated call answered differently:\n\(text(first))\n\(text(again))")
        }
    } catch {
        fatalError("a call answered 200, then failed when repeated: \(error)")
    }
    return 0
}
