import Foundation

/// A call that keeps one worker busy for seconds, however fast matrix products get: 300 chained
/// cosines of a million zeros (broadcast from one, so the body is small). Every element converges to
/// the Dottie number, the fixed point of cos, so the output `s` is `elements` · 0.739085….
/// Servers running it need `arguments`: the cost model counts every intermediate (2.4 GB), though
/// the engine reuses two places for them.
enum SlowCall {
    static let elements = 1_000_000
    static let dottie = 0.739_085_133_215_160_6
    static let arguments = ["--max-bytes", "4000000000"]

    static let body: String = {
        let depth = 300
        var nodes = [
            #"{"id":"b","op":"broadcast_to","args":["x"],"attrs":{"shape":[\#(elements)]}}"#,
            #"{"id":"c1","op":"cos","args":["b"]}"#,
        ]
        for k in 2...depth { nodes.append(#"{"id":"c\#(k)","op":"cos","args":["c\#(k - 1)"]}"#) }
        nodes.append(#"{"id":"s","op":"sum","args":["c\#(depth)"]}"#)
        return #"{"graph":{"inputs":["x"],"nodes":[\#(nodes.joined(separator: ","))]},"#
            + #""values":{"x":0},"outputs":["s"]}"#
    }()

    /// The output `s` of a reply, divided by `elements`: the Dottie number when the call succeeded.
    static func perElement(_ reply: CurlReply) -> Double? {
        (((reply.json as? [String: Any])?["outputs"] as? [String: Any])?["s"] as? NSNumber)
            .map { $0.doubleValue / Double(elements) }
    }
}
