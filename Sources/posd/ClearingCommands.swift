import ArgumentParser
import AsyncHTTPClient
import ClearingAPI
import ClearingClient
import Foundation
import Journal
import Logging
import StoreAndForward

/// How posd reaches the clearing platform.
struct ClearingOptions: ParsableArguments {
    @Option(help: "Clearing platform base URL: https://…, or plain http:// to a loopback address only.")
    var clearingUrl: String

    @Option(help: "This terminal's id at the platform: the PSAM terminal number, 12 upper-case hex digits.")
    var terminalId: String

    @Option(help: "File holding the terminal's bearer token (keep it readable by posd alone). Never printed or logged.")
    var tokenFile: String

    @Option(help: "Seconds before a request to the platform is given up.")
    var requestTimeoutSeconds = 15

    @Option(help: "Log level on stderr: trace, debug, info, notice, warning, error.")
    var logLevel = "notice"

    @Option(help: "First retry delay in milliseconds; it doubles per failure (with jitter) up to --retry-cap-seconds.")
    var retryBaseMilliseconds = 1000

    @Option(help: "Longest delay between retries, in seconds.")
    var retryCapSeconds = 300

    var backoff: Backoff {
        Backoff(base: .milliseconds(retryBaseMilliseconds), cap: .seconds(retryCapSeconds))
    }

    func logger() -> Logger {
        LoggingBootstrap.once
        var logger = Logger(label: "posd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        return logger
    }

    /// The endpoint, checked against the contract's transport rule; a bad one is one clear line and exit 78 (EX_CONFIG).
    func client(logger: Logger) throws -> ClearingClient {
        let token: String
        do { token = try String(contentsOfFile: tokenFile, encoding: .utf8) } catch {
            fail("cannot read the token file \(tokenFile): \(error.localizedDescription)")
        }
        do {
            let endpoint = try ClearingEndpoint(url: clearingUrl, terminalID: terminalId, token: token)
            return ClearingClient(endpoint: endpoint, timeout: .seconds(requestTimeoutSeconds), logger: logger)
        } catch {
            fail("\(error)")
        }
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("posd: \(message)\n".utf8))
        Foundation.exit(configurationFailure)
    }
}

/// EX_CONFIG: the terminal's configuration is wrong (bad URL, token refused).
let configurationFailure: Int32 = 78
/// Records remain undelivered (the platform was unreachable or busy until the deadline).
let deliveryIncomplete: Int32 = 75

enum LoggingBootstrap {
    static let once: Void = LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch parameters and hot list, and deliver every undelivered record to the clearing platform.",
        discussion: """
            Retries with backoff (honouring Retry-After) until every record is delivered or the \
            deadline passes. Exit status: 0 all delivered, 75 records remain undelivered, 78 the \
            platform refused this terminal's token or enrolment (or the endpoint is not allowed).
            """)

    @Option(help: "Give up retrying after this many seconds.")
    var deadlineSeconds = 300

    @OptionGroup var clearing: ClearingOptions
    @OptionGroup var data: DataOptions

    func run() async throws {
        let logger = clearing.logger()
        let client = try clearing.client(logger: logger)
        let journal = data.journal()
        if let fault = journal.fault { logger.error("journal fault: records are read for upload only", metadata: ["fault": "\(fault)"]) }
        let sync = PlatformSync(journal: journal, service: client, logger: logger)
        do { try await sync.refreshParameters() } catch {
            logger.warning("parameters not refreshed", metadata: ["error": "\(error)"])
        }
        do { try await sync.refreshHotList() } catch {
            logger.warning("hot list not refreshed", metadata: ["error": "\(error)"])
        }
        let uploader = Uploader(journal: journal, service: client, logger: logger, backoff: clearing.backoff)
        let report = await uploader.deliverAll(until: .now + .seconds(deadlineSeconds), stopOnConfigurationFault: true)
        let parameters = PlatformSync.storedParameters(in: journal)
        show("delivered \(report.delivered) records (\(report.rejected) rejected) in \(report.requests) requests, \(report.failures) failed; "
            + "\(report.remaining) undelivered; parameters v\(parameters?.version ?? 0); hot list v\((try? journal.hotListVersion) ?? 0)")
        if case .configuration? = report.lastError {
            show("CONFIGURATION FAULT: the clearing platform refused this terminal (token or enrolment)")
            throw ExitCode(configurationFailure)
        }
        if report.remaining > 0 { throw ExitCode(deliveryIncomplete) }
    }
}

struct Settle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Close the business day with the clearing platform (deliver everything first, then send totals).",
        discussion: "Exit status: 0 balanced, 1 unbalanced, 75 records could not all be delivered, 78 configuration fault.")

    @Option(help: "Give up delivering after this many seconds.")
    var deadlineSeconds = 300

    @OptionGroup var clearing: ClearingOptions
    @OptionGroup var data: DataOptions

    func run() async throws {
        let logger = clearing.logger()
        let client = try clearing.client(logger: logger)
        let journal = data.journal()
        let uploader = Uploader(journal: journal, service: client, logger: logger, backoff: clearing.backoff)
        let settlement = Settlement(uploader: uploader, service: client, terminalID: clearing.terminalId, logger: logger)
        switch await settlement.close(until: .now + .seconds(deadlineSeconds)) {
        case .nothingToSettle:
            show("nothing to settle")
        case .balanced(let batch):
            show("batch \(batch.batchNo) balanced: records \(batch.firstSeq)–\(batch.lastSeq), \(batch.count) debits, \(batch.amount) fen")
        case .unbalanced(let batch, let count, let amount, let missing):
            show("batch \(batch.batchNo) UNBALANCED: terminal \(batch.count) debits / \(batch.amount) fen, platform \(count) / \(amount), missing \(missing)")
            throw ExitCode(1)
        case .undelivered(let remaining, let error):
            show("not settled: \(remaining) records undelivered" + (error.map { " (\($0))" } ?? ""))
            if case .configuration? = error { throw ExitCode(configurationFailure) }
            throw ExitCode(deliveryIncomplete)
        case .failed(let error):
            show("not settled: \(error)")
            if case .configuration = error { throw ExitCode(configurationFailure) }
            throw ExitCode(deliveryIncomplete)
        }
    }
}
