import ArgumentParser
import ClearingPlatform
import Foundation
import Logging
import NIOSSL

@main
struct ClearingPlatformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clearing-platform",
        abstract: "The reference clearing platform (clearing API v1) for the bench, tests and benchmarks.",
        subcommands: [Serve.self, Import.self], defaultSubcommand: Serve.self)
}

/// Records a terminal exported to removable media (`posd-tech export`),
/// checked against the terminal's token and stored exactly as an upload would
/// store them: importing twice changes nothing.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Import a journal export file from a terminal.")

    @Option(help: "SQLite database file of the platform.")
    var db = "clearing.sqlite"

    @Argument(help: "The export file.")
    var file: String

    func run() throws {
        let platform = try Platform(path: db)
        let summary: Platform.ImportSummary
        do {
            summary = try platform.importExport(Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            FileHandle.standardError.write(Data("clearing-platform: \(file): \(error)\n".utf8))
            throw ExitCode(65)
        }
        print("terminal \(summary.terminalID): \(summary.accepted) accepted, \(summary.duplicates) already held, \(summary.rejected) rejected")
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the clearing API.",
        discussion: """
            Stores everything in one SQLite file. Verifies tokens, Terminal-Id, record \
            shapes, the hash chain and every TAC under the test issuer's keys; answers loads \
            under the test MLK. Prints "listening on http://HOST:PORT" once it accepts connections.
            """)

    @Option(help: "SQLite database file (created if missing).")
    var db = "clearing.sqlite"

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port, printed at start).")
    var port = 8080

    @Option(help: "Enrol a terminal: TERMINAL_ID:TOKEN_FILE (the file holds the bearer token). Repeatable.")
    var enroll: [String] = []

    @Flag(help: "Serve /control/… (faults, clock skew, hot list, parameters, enrolment, summary): for tests only.")
    var control = false

    @Option(help: "Also serve HTTPS on this port (0: any free port, printed at start); needs --tls-cert and --tls-key.")
    var httpsPort: Int?

    @Option(help: "PEM file of the HTTPS server certificate (leaf first, then any intermediates).")
    var tlsCert: String?

    @Option(help: "PEM file of the HTTPS server's private key.")
    var tlsKey: String?

    @Option(help: "Append one line per request (scheme, method, path, whether a bearer token came; never the token) to this file.")
    var requestLog: String?

    func validate() throws {
        if httpsPort != nil && (tlsCert == nil || tlsKey == nil) { throw ValidationError("--https-port needs --tls-cert and --tls-key") }
        if httpsPort == nil && (tlsCert != nil || tlsKey != nil) { throw ValidationError("--tls-cert and --tls-key need --https-port") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "clearing-platform")
        logger.logLevel = .notice
        let platform = try Platform(path: db)
        for enrolment in enroll {
            let parts = enrolment.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let token = try? String(contentsOfFile: parts[1], encoding: .utf8) else {
                throw ValidationError("--enroll wants TERMINAL_ID:TOKEN_FILE with a readable file, got \(enrolment)")
            }
            try platform.enroll(terminalID: parts[0], token: token.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let log = try requestLog.map { try RequestLog(path: $0) }
        var servers = [PlatformServer(platform: platform, host: host, port: port, control: control, requestLog: log, logger: logger)]
        if let httpsPort, let tlsCert, let tlsKey {
            let tls: TLSConfiguration
            do { tls = try PlatformServer.tls(certificateFile: tlsCert, keyFile: tlsKey) } catch {
                throw ValidationError("cannot use \(tlsCert) and \(tlsKey) for HTTPS: \(error)")
            }
            servers.append(PlatformServer(platform: platform, host: host, port: httpsPort, control: control, tls: tls, requestLog: log, logger: logger))
        }
        // Each prints its own line; plain HTTP first, so a reader of the first line gets the same port as before.
        let started = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, server) in servers.enumerated() {
                group.addTask { [host] in
                    if index > 0 { for await _ in started.stream { break } }
                    try await server.run { port in
                        FileHandle.standardOutput.write(Data("listening on \(server.scheme)://\(host):\(port)\n".utf8))
                        started.continuation.yield()
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
