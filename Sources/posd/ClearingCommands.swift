import ArgumentParser
import Cashier
import ClearingAPI
import ClearingClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Hex
import Journal
import Logging
import Purse
import Settings
import StoreAndForward
import Terminal

/// How posd reaches the clearing platform.
struct ClearingOptions: ParsableArguments {
    @Option(help: "Clearing platform base URL: https://…, or plain http:// to a loopback address only (default: as provisioned).")
    var clearingUrl: String?

    @Option(help: "This terminal's id at the platform: the PSAM terminal number, 12 upper-case hex digits (default: as provisioned).")
    var terminalId: String?

    @Option(help: "File holding the terminal's bearer token, readable by posd alone; never printed or logged (default: <data-dir>/clearing.token).")
    var tokenFile: String?

    @Option(help: "PEM file of the CA the platform's HTTPS certificate must chain to; the only one trusted (default: as provisioned).")
    var clearingCa: String?

    @Option(help: "Seconds before a request to the platform is given up.")
    var requestTimeoutSeconds = 15

    @Option(help: "Log level on stderr: trace, debug, info, notice, warning, error.")
    var logLevel = "notice"

    @Option(help: "First retry delay in milliseconds; it doubles per failure (with jitter) up to --retry-cap-seconds.")
    var retryBaseMilliseconds = 1000

    @Option(help: "Longest delay between retries, in seconds.")
    var retryCapSeconds = 300

    func validate() throws {
        try require(requestTimeoutSeconds, in: 1...600, "request-timeout-seconds")
        try require(retryBaseMilliseconds, in: 1...600_000, "retry-base-milliseconds")
        try require(retryCapSeconds, in: 1...86_400, "retry-cap-seconds")
    }

    var backoff: Backoff {
        Backoff(base: .milliseconds(retryBaseMilliseconds), cap: .seconds(retryCapSeconds))
    }

    func logger() -> Logger {
        LoggingBootstrap.once
        var logger = Logger(label: "posd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        return logger
    }

    /// The platform's client from the options, else from the provisioned
    /// settings: the endpoint checked against the contract's transport rule,
    /// an HTTPS one with its provisioned trust anchor.
    func client(data: DataOptions, logger: Logger, timeout: Duration? = nil) throws(ConfigurationProblem) -> ClearingClient {
        let settings = try? TerminalSettings.load(from: data.url)
        guard let url = clearingUrl ?? settings?.clearingURL, let terminalID = terminalId ?? settings?.terminalID else {
            throw ConfigurationProblem("no clearing platform configured: provision the terminal (posd-tech provision) or give --clearing-url and --terminal-id")
        }
        let tokenPath = tokenFile ?? TerminalSettings.tokenURL(in: data.url).path
        let token: String
        do { token = try String(contentsOfFile: tokenPath, encoding: .utf8) } catch {
            throw ConfigurationProblem("cannot read the token file \(tokenPath): \(systemReason(error))")
        }
        do {
            let endpoint = try ClearingEndpoint(url: url, terminalID: terminalID, token: token)
            let trust = try (clearingCa ?? settings?.clearingCAURL(in: data.url)?.path).map { path throws(PlatformTrust.Invalid) in
                try PlatformTrust(pemFile: path)
            }
            return try ClearingClient(endpoint: endpoint, trust: trust, timeout: timeout ?? .seconds(requestTimeoutSeconds), logger: logger)
        } catch {
            throw ConfigurationProblem("\(error)")
        }
    }

    /// The client for a one-shot command: a configuration problem is one
    /// clear line and exit 78 (EX_CONFIG).
    func client(logger: Logger, data: DataOptions) throws -> ClearingClient {
        do { return try client(data: data, logger: logger) } catch {
            logLine("\(error)")
            throw ExitCode(configurationFailure)
        }
    }

    /// What delivery needs: the client, the journal, an uploader, and the log.
    func storeAndForward(_ data: DataOptions) throws -> (client: ClearingClient, journal: Journal, uploader: Uploader, logger: Logger) {
        let logger = logger()
        let client = try client(logger: logger, data: data)
        let journal = try data.journal()
        return (client, journal, Uploader(journal: journal, service: client, logger: logger, backoff: backoff), logger)
    }
}

/// The terminal is not configured well enough to reach its platform.
struct ConfigurationProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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

    func validate() throws {
        try require(deadlineSeconds, in: 0...86_400, "deadline-seconds")
    }

    @OptionGroup var clearing: ClearingOptions
    @OptionGroup var data: DataOptions

    func run() async throws {
        let (client, journal, uploader, logger) = try clearing.storeAndForward(data)
        if let fault = journal.fault { logger.error("journal fault: records are read for upload only", metadata: ["fault": "\(fault)"]) }
        let sync = PlatformSync(journal: journal, service: client, logger: logger)
        // A token, enrolment or certificate fault seen here fails the sync even with nothing to deliver.
        var fault: ClearingError?
        do { try await sync.refreshParameters() } catch {
            logger.warning("parameters not refreshed", metadata: ["error": "\(error)"])
            if error.needsTechnician { fault = error }
        }
        do { try await sync.refreshHotList() } catch {
            logger.warning("hot list not refreshed", metadata: ["error": "\(error)"])
            if error.needsTechnician { fault = error }
        }
        let report = await uploader.deliverAll(until: .now + .seconds(deadlineSeconds), stopOnConfigurationFault: true)
        let parameters = (try? PlatformSync.storedParameters(in: journal)) ?? nil
        show("delivered \(report.delivered) records (\(report.rejected) rejected) in \(report.requests) requests, \(report.failures) failed; "
            + "\(report.remaining) undelivered; parameters v\(parameters?.version ?? 0); hot list v\((try? journal.hotListVersion) ?? 0)")
        if let error = report.lastError ?? fault, error.needsTechnician {
            show("CONFIGURATION FAULT: \(error)")
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

    func validate() throws {
        try require(deadlineSeconds, in: 0...86_400, "deadline-seconds")
    }

    @OptionGroup var clearing: ClearingOptions
    @OptionGroup var data: DataOptions

    func run() async throws {
        let (client, _, uploader, logger) = try clearing.storeAndForward(data)
        let settlement = Settlement(uploader: uploader, service: client, terminalID: client.endpoint.terminalID, logger: logger)
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
            if error?.needsTechnician == true { throw ExitCode(configurationFailure) }
            throw ExitCode(deliveryIncomplete)
        case .failed(let error):
            show("not settled: \(error)")
            if error.needsTechnician { throw ExitCode(configurationFailure) }
            throw ExitCode(deliveryIncomplete)
        }
    }
}

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one online load (top-up) on the first card presented; needs the clearing platform.",
        discussion: """
            The card's PIN is checked, the platform gives the MAC2, and the load is journalled \
            with the card's TAC. Exit status: 0 loaded, 1 declined (the platform's refusal, a \
            wrong PIN: the balance is unchanged), 2 uncertain (present the card again), 4 an \
            earlier torn transaction of this card was completed instead, 69 readers/card \
            unavailable, 78 configuration fault.
            """)

    @Option(help: "Amount in fen.")
    var amount: UInt32

    @Option(help: "The card holder's PIN, 6 digits.")
    var pin: String

    @Option(help: "After a torn CREDIT, seconds to wait for the same card to be presented again for recovery.")
    var recoveryWaitSeconds: UInt32 = 20

    func validate() throws {
        try require(recoveryWaitSeconds, in: 0...600, "recovery-wait-seconds")
    }

    @OptionGroup var clearing: ClearingOptions
    @OptionGroup var readers: ReaderOptions
    @OptionGroup var data: DataOptions

    func run() async throws {
        guard pin.utf8.count == 6, pin.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let pinBytes = [UInt8](hex: pin) else {
            throw ValidationError("--pin wants 6 digits")
        }
        let logger = clearing.logger()
        let client = try clearing.client(logger: logger, data: data)
        let terminalID = client.endpoint.terminalID
        let core = try TerminalCore(data: data, limits: LimitOptions.parse([]))
        let journal = core.journal
        let terminal = try readers.terminal(core)
        guard terminal.psam.terminalNumber.hex == terminalID else {
            logLine("the PSAM's terminal number \(terminal.psam.terminalNumber.hex) is not this terminal's id \(terminalID)")
            throw ExitCode(configurationFailure)
        }
        let outcome = try await setUpAsync { () async throws(Terminal.SetupError) in
            try await terminal.load(amount: amount, pin: pinBytes, time: journal.transactionTime(), timeoutMilliseconds: readers.waitSeconds * 1000,
                                    journal: journal, recoveryWaitMilliseconds: recoveryWaitSeconds * 1000,
                                    askAgain: { show(readers.json ? #"{"result":"present_card_again","card_no":"\#($0)"}"# : "PRESENT CARD \($0) AGAIN") }) {
                authorisation throws(LoadAuthorisationError) in
                let p = authorisation.pending
                let request = LoadRequest(terminalID: terminalID, cardNo: p.cardNumber.description, amount: Int(p.amount),
                                          balanceBefore: Int(p.balanceBefore), cardCounter: Int(p.counter), random: p.cardRandom.hex,
                                          mac1: authorisation.mac1.hex, time: p.time.description)
                do {
                    let answer = try await client.authorizeLoad(request)
                    guard let mac2 = [UInt8](hex: answer.body.mac2), mac2.count == 4 else {
                        throw LoadAuthorisationError.unavailable("platform MAC2 malformed")
                    }
                    return mac2
                } catch let error as LoadAuthorisationError {
                    throw error
                } catch let error as ClearingError {
                    if case .refused(let reason) = error { throw .refused(reason) }
                    throw .unavailable("\(error)")
                } catch {
                    throw .unavailable("\(error)")
                }
            }
        }
        let report = PurchaseReport(outcome, amount: amount)
        show(report, json: readers.json)
        if let alarm = terminal.journalAlarm {
            logLine("ALARM journal: \(alarm)")
        }
        throw ExitCode(report.exitCode)
    }
}

/// `setUp` for async steps.
func setUpAsync<T>(_ body: () async throws(Terminal.SetupError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        logLine("\(error)")
        throw ExitCode(setUpFailure)
    }
}
