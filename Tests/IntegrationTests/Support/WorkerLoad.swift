import Foundation

/// `busy` and `queued` from `/readyz`, or nil when it does not answer 200.
func workerLoad(_ server: ServerProcess) -> (busy: Int, queued: Int)? {
    guard let reply = try? curl([server.baseURL + "/readyz"]), reply.status == 200,
        let object = reply.json as? [String: Any],
        let busy = (object["busy"] as? NSNumber)?.intValue,
        let queued = (object["queued"] as? NSNumber)?.intValue
    else { return nil }
    return (busy, queued)
}

/// Polls `/readyz` (bounded: 10 s) until the one worker is busy or `program` has finished.
func waitUntilBusy(_ server: ServerProcess, while program: RunningProgram) {
    for _ in 0..<2_000 {
        if !program.process.isRunning || workerLoad(server)?.busy == 1 { return }
        Thread.sleep(forTimeInterval: 0.005)
    }
}
