import Foundation
import Synchronization
import Testing

/// A real `autodiffd` process on a free port, for tests that talk to it with `curl`.
///
/// The binary is `$AUTODIFFD_BINARY`, else the `autodiffd` built next to this test bundle.
/// It is started with `--port 0`; the port is read from its "server started" log line.
final class ServerProcess: Sendable {
    let process: Process
    let port: Int
    private let log: LogCollector

    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(arguments: [String] = [], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = try Self.binary()
        process.arguments = ["--host", "127.0.0.1", "--port", "0", "--log-level", "info"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.log = LogCollector(stderr.fileHandleForReading)
        guard let port = log.waitForPort() else {
            process.terminate()
            throw ServerError.didNotStart(log.text)
        }
        self.port = port
    }

    /// Sends SIGTERM and waits for the exit status.
    func terminate() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// What the server wrote to stderr: so far while it runs, all of it once it has exited.
    var logText: String {
        if !process.isRunning { log.waitForEnd() }
        return log.text
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    static func binary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["AUTODIFFD_BINARY"] {
            return URL(fileURLWithPath: path)
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidates = [
            executable.deletingLastPathComponent().appendingPathComponent("autodiffd"),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "autodiffd"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
                    ".build/debug/autodiffd"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw ServerError.binaryNotFound(candidates.map(\.path))
        }
        return found
    }

    enum ServerError: Error {
        case binaryNotFound([String])
        case didNotStart(String)
    }
}

/// Reads a child's stderr on a Dispatch thread until EOF, keeping the text and the announced port.
final class LogCollector: Sendable {
    private let state = Mutex((text: "", port: Int?.none, finished: false))
    private let announced = DispatchSemaphore(value: 0)
    /// Signalled once stderr has closed and everything before it is in `text`.
    private let ended = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        DispatchQueue.global().async { [self] in
            var pending = ""
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                pending += String(decoding: data, as: UTF8.self)
                let port = Self.port(in: pending)
                let first = state.withLock { state -> Bool in
                    state.text = pending
                    defer { state.port = state.port ?? port }
                    return state.port == nil && port != nil
                }
                if first { announced.signal() }
            }
            state.withLock { $0.finished = true }
            announced.signal()
            ended.signal()
        }
    }

    /// Blocks until stderr closes (bounded: 10 s). A process's last lines can still be in the pipe
    /// when it has exited: reading `text` without this lost the drain's last log line.
    func waitForEnd() {
        guard !state.withLock({ $0.finished }) else { return }
        if ended.wait(timeout: .now() + 10) == .success { ended.signal() }
    }

    /// Blocks until the server announces its port or its stderr closes (bounded: 60 s).
    func waitForPort() -> Int? {
        _ = announced.wait(timeout: .now() + 60)
        return state.withLock { $0.port }
    }

    var text: String { state.withLock { $0.text } }

    /// The port of the line `… port=12345 … server started` (or, with `--log-format json`,
    /// `{… "message":"server started", … "port":"12345" …}`).
    static func port(in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.contains("server started") {
            guard let range = line.range(of: "port=") ?? line.range(of: #""port":""#) else { continue }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }
}
