import Hummingbird

// Hummingbird's own ceiling on this machine, the yardstick for issue 7's small-call targets
// (scripts/bench-ceiling.sh): `GET /` answers a string, `POST /echo` answers the body it collected.
let router = Router()
router.get("/") { _, _ in "Hello, world!" }
router.post("/echo") { request, _ -> ByteBuffer in
    try await request.body.collect(upTo: 1 << 20)
}
let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 18099
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
