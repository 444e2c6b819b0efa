import Foundation
import Synchronization

/// Renders DOT to SVG with Graphviz's `dot`, found on `PATH`, as a bounded child process.
enum Graphviz {
    /// The most SVG bytes accepted from `dot`; past this the render fails rather than filling memory.
    static let maxOutputBytes = 16 << 20

    enum Failure: Error {
        /// No `dot` executable on `PATH`.
        case notInstalled
        /// `dot` ran past its time, printed too much, or failed; the detail says which.
        case failed(String)
    }

    /// `dot` on `PATH`, if any.
    static var executable: URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("dot") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// `dot -Tsvg`, killed after `timeout`. Blocks the calling thread, so it runs on a worker.
    static func svg(_ dot: String, timeout: Duration) throws(Failure) -> [UInt8] {
        guard let executable else { throw .notInstalled }
        // The DOT goes through a file rather than a pipe: a `dot` that exits early cannot then SIGPIPE us.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("autodiffd-\(UUID().uuidString).dot")
        do {
            try Data(dot.utf8).write(to: file)
        } catch {
            throw .failed("could not write the DOT for dot: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["-Tsvg", file.path]
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw .failed("could not start \(executable.path): \(error.localizedDescription)")
        }
        let finished = DispatchSemaphore(value: 0)
        let state = RenderState()
        // Drain stderr on its own thread so that pipe cannot fill up and stall `dot`.
        DispatchQueue.global().async {
            let data = errors.fileHandleForReading.readDataToEndOfFile()
            state.stderr.withLock { $0 = String(decoding: data.prefix(2000), as: UTF8.self) }
            finished.signal()
        }
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem {
            state.timedOut.withLock { $0 = true }
            kill(pid, SIGKILL)
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        DispatchQueue.global().asyncAfter(deadline: .now() + max(0, seconds), execute: watchdog)

        var svg: [UInt8] = []
        var tooLarge = false
        let reader = output.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            if svg.count + chunk.count > maxOutputBytes {
                tooLarge = true
                process.terminate()
                continue
            }
            svg.append(contentsOf: chunk)
        }
        process.waitUntilExit()
        watchdog.cancel()
        _ = finished.wait(timeout: .now() + 5)
        if state.timedOut.withLock({ $0 }) {
            throw .failed("dot did not finish within \(seconds) s")
        }
        if tooLarge { throw .failed("dot wrote more than \(maxOutputBytes) bytes") }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw .failed("dot failed (status \(process.terminationStatus)): \(state.stderr.withLock { $0 })")
        }
        return svg
    }
}

/// What the watchdog and the stderr reader share with the rendering thread.
private final class RenderState: Sendable {
    let timedOut = Mutex(false)
    let stderr = Mutex("")
}
