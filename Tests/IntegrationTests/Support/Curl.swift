import Foundation

/// What `curl` printed: the body and the status code.
struct CurlReply {
    let status: Int
    let body: String

    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }

    var errorCode: String? {
        ((json as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
    }
}

/// Runs `curl` with `arguments` plus `-s -w` to append the status code, and returns both.
func curl(_ arguments: [String], input: String? = nil) throws -> CurlReply {
    let output = try run(
        "/usr/bin/env", ["curl", "-s", "-S", "--max-time", "60", "-w", "\n%{http_code}"] + arguments, input: input)
    let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
    let status = lines.last.flatMap { Int($0) } ?? 0
    return CurlReply(status: status, body: lines.dropLast().joined(separator: "\n"))
}

/// POSTs `body`, passed on standard input so its size is not bounded by the argument list.
func curlPost(_ url: String, _ body: String) throws -> CurlReply {
    try curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@-", url], input: body)
}

/// Runs a program to completion, feeding it `input`, and returns its standard output.
func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> String {
    try start(executable, arguments, input: input).finish()
}

/// A program started by `start`, whose output is read as it comes (so a program with much to say
/// never stalls on a full pipe) and returned by `finish`.
struct RunningProgram {
    let process: Process
    let output: Output

    /// Standard output, read to its end on a thread of its own (not Dispatch's global queue, whose
    /// few threads the blocking reads of several programs would hold while their input waits).
    final class Output: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(_ pipe: Pipe) {
            Thread {
                self.data = pipe.fileHandleForReading.readDataToEndOfFile()
                self.done.signal()
            }.start()
        }

        /// Everything the program wrote, once it closed its output.
        func all() -> Data {
            done.wait()
            done.signal()
            return data
        }
    }

    func finish() -> String {
        let data = output.all()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Starts `curl` POSTing `body` and returns at once; `finishCurl` waits for its reply.
func startCurlPost(_ url: String, _ body: String) throws -> RunningProgram {
    try start(
        "/usr/bin/env",
        ["curl", "-s", "-S", "--max-time", "120", "-w", "\n%{http_code}", "-X", "POST", "--data-binary", "@-", url],
        input: body)
}

func finishCurl(_ program: RunningProgram) -> CurlReply {
    let lines = program.finish().split(separator: "\n", omittingEmptySubsequences: false)
    return CurlReply(status: lines.last.flatMap { Int($0) } ?? 0, body: lines.dropLast().joined(separator: "\n"))
}

/// Starts a program, feeding it `input` from another thread.
func start(_ executable: String, _ arguments: [String], input: String? = nil) throws -> RunningProgram {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let stdout = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardInput = stdin
    try process.run()
    // Write on another thread: a large input would otherwise deadlock against a full output pipe.
    let writer = stdin.fileHandleForWriting
    let bytes = Data((input ?? "").utf8)
    DispatchQueue.global().async {
        writer.write(bytes)
        try? writer.close()
    }
    return RunningProgram(process: process, output: RunningProgram.Output(stdout))
}
