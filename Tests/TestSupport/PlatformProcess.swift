import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

public let binaries = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

/// How many times slower than the x86 bench this run's programs are
/// (`POSD_TIME_SCALE`, at least 1: the aarch64 suites under qemu set it), for
/// the timeouts a test tunes to the bench's speed.
public let timeScale = max(1, ProcessInfo.processInfo.environment["POSD_TIME_SCALE"].flatMap(Double.init) ?? 1)

/// `seconds` of the bench's speed at this run's.
public func scaled(_ seconds: Int) -> Int { Int((Double(seconds) * timeScale).rounded(.up)) }

/// The environment for a package program started as systemd starts a service
/// (with nothing inherited): `service`, plus what this test process was given
/// to run programs at all, passed on so the test runs the same under an
/// emulator (`QEMU_LD_PREFIX` and the other `QEMU_*`, `LD_LIBRARY_PATH`).
public func serviceEnvironment(_ service: [String: String]) -> [String: String] {
    ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("QEMU_") || $0.key == "LD_LIBRARY_PATH" }.merging(service) { $1 }
}
/// The test PSAM's terminal number.
public let terminalID = "112233445566"

/// A running `clearing-platform --control` (the reference platform binary) on a free loopback port, with one
/// enrolled terminal; stopped (SIGKILL) when the test ends.
public final class PlatformProcess {
    let process = Process()
    public let port: Int
    public let token: String
    /// The platform's SQLite file (for `clearing-platform import`).
    public let database: URL
    private let output: FileHandle

    /// The HTTPS port, when started with a server certificate.
    public let httpsPort: Int?
    /// One line per request that reached HTTP: "scheme METHOD path bearer=present|absent".
    public let requestLog: URL

    public init(directory: URL, token: String = "tok-\(UUID().uuidString)", tls: TestPKI.ServerFiles? = nil) throws {
        self.token = token
        database = directory.appendingPathComponent("platform.sqlite")
        requestLog = directory.appendingPathComponent("platform-requests.log")
        let tokenFile = directory.appendingPathComponent("platform-token")
        try token.write(to: tokenFile, atomically: true, encoding: .utf8)
        process.executableURL = binaries.appendingPathComponent("clearing-platform")
        process.arguments = ["--db", database.path, "--port", "0", "--control", "--request-log", requestLog.path,
                             "--enroll", "\(terminalID):\(tokenFile.path)"]
            + (tls.map { ["--https-port", "0", "--tls-cert", $0.certificate.path, "--tls-key", $0.key.path] } ?? [])
        let pipe = Pipe()
        process.standardOutput = pipe
        output = pipe.fileHandleForReading
        try process.run()
        func portNumber(_ line: String) -> Int? { line.split(separator: ":").last.flatMap { Int($0) } }
        let line = Self.readLine(output)
        guard let port = portNumber(line) else {
            process.terminate()
            throw HarnessError("platform did not start: \(line)")
        }
        self.port = port
        if tls != nil {
            let line = Self.readLine(output)
            guard line.contains("https://"), let port = portNumber(line) else {
                process.terminate()
                throw HarnessError("platform did not start HTTPS: \(line)")
            }
            httpsPort = port
        } else {
            httpsPort = nil
        }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public var url: String { "http://127.0.0.1:\(port)" }
    public var httpsURL: String? { httpsPort.map { "https://127.0.0.1:\($0)" } }

    /// The request log's lines so far.
    public var requests: [String] {
        ((try? String(contentsOf: requestLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The next line the platform prints (blocks until it does).
    public func nextLine() -> String { Self.readLine(output) }

    public static func readLine(_ handle: FileHandle) -> String {
        var bytes: [UInt8] = []
        while let byte = try? handle.read(upToCount: 1), let first = byte.first, first != 0x0A { bytes.append(first) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `/control/…` call; returns the body.
    @discardableResult
    public func control(_ method: HTTPMethod, _ path: String, _ json: String? = nil) async throws -> String {
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        if let json { request.body = .bytes(ByteBuffer(string: json)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw HarnessError("control \(path): \(response.status)") }
        return String(buffer: body)
    }

    public struct Summary: Decodable {
        public var records: Int
        public var accepted: Int
        public var rejected: [String: Int]
        public var resent: Int
        public var chain_breaks: Int
        public var last_seq: Int
        public var debit_amount: Int
        public var loads: Int
        public var load_requests: Int
    }

    /// posd's clearing options for this platform, with a token file in `dataDir`
    /// (and quick retries, short timeouts, trace logging for the tests).
    /// `requestTimeoutSeconds` at the bench's speed (`scaled`).
    public func posdArguments(dataDir: URL, token: String? = nil, requestTimeoutSeconds: Int = 2) throws -> [String] {
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        let tokenFile = dataDir.appendingPathComponent("clearing.token")
        try (token ?? self.token).write(to: tokenFile, atomically: true, encoding: .utf8)
        return ["--clearing-url", url, "--terminal-id", terminalID, "--token-file", tokenFile.path, "--data-dir", dataDir.path,
                "--retry-base-milliseconds", "20", "--retry-cap-seconds", "1", "--request-timeout-seconds", "\(scaled(requestTimeoutSeconds))",
                "--log-level", "trace"]
    }

    public func summary() async throws -> Summary {
        try JSONDecoder().decode(Summary.self, from: Data(try await control(.GET, "/control/summary?terminal_id=\(terminalID)").utf8))
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// `posd` run to completion, output captured.
public struct PosdRun {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    /// Runs `tool` (a binary of this package, `posd` by default) to completion.
    /// `environment`: variables set for the program on top of this process's own.
    public static func run(_ arguments: [String], tool: String = "posd", environment: [String: String] = [:]) throws -> PosdRun {
        let process = try start(arguments, tool: tool, environment: environment)
        return finish(process)
    }

    /// A `posd` subcommand that touches a journal, run without `--data-dir`:
    /// it would write to the machine's `/var/lib/posd`. Tests never do.
    public struct Unsandboxed: Error, CustomStringConvertible {
        public var command: String
        public var description: String { "posd \(command) run without --data-dir: it would use the machine's /var/lib/posd" }
    }

    static let journalCommands: Set<String> = ["purchase", "balance", "load", "validator", "cashier", "run", "sync", "settle", "journal"]

    /// Throws `Unsandboxed` for a journal command without `--data-dir`.
    public static func checkSandboxed(tool: String, _ arguments: [String]) throws {
        if tool == "posd", let command = arguments.first, journalCommands.contains(command), !arguments.contains("--data-dir") {
            throw Unsandboxed(command: command)
        }
    }

    public static func start(_ arguments: [String], tool: String = "posd", environment: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        try checkSandboxed(tool: tool, arguments)
        let process = Process()
        process.executableURL = binaries.appendingPathComponent(tool)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    public static func finish(_ started: (Process, Pipe, Pipe)) -> PosdRun {
        let stdout = started.1.fileHandleForReading.readDataToEndOfFile()
        let stderr = started.2.fileHandleForReading.readDataToEndOfFile()
        started.0.waitUntilExit()
        return PosdRun(status: started.0.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }
}

