import ArgumentParser
import BoardDefinition
import Cashier
import ClearingAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Hex
import Journal
import PCSC
import Posix
import Purse
import StoreAndForward
import Terminal

@main
struct Posd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "posd",
        abstract: "Offline payment terminal core for PBOC electronic purses.",
        subcommands: [Run.self, Purchase.self, Load.self, Balance.self, CashierCommand.self, ValidatorCommand.self, Sync.self, Settle.self, JournalCommand.self, Readers.self])
}

/// Reader options shared by the subcommands.
struct ReaderOptions: ParsableArguments {
    @Option(help: "PC/SC reader holding the customer's card (default: the bench's, vpcd slot 0).")
    var cardReader = BoardDefinition.benchReaders.card

    @Option(help: "PC/SC reader holding the PSAM (default: the bench's, vpcd slot 1).")
    var psamReader = BoardDefinition.benchReaders.psam

    @Option(help: "Seconds to wait for a card.")
    var waitSeconds: UInt32 = 30

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        try require(waitSeconds, in: 1...3600, "wait-seconds")
    }

    /// The readers and PSAM; the offline limits asked of `core`'s parameters on
    /// every tap, and every APDU told to its flight recorder.
    func terminal(_ core: TerminalCore? = nil) throws -> Terminal {
        var configuration = Terminal.Configuration(cardReader: cardReader, psamReader: psamReader,
                                                   log: { logLine("\($0)") })
        if let parameters = core?.parameters { configuration.currentLimits = { parameters.current.offline } }
        configuration.recorder = core?.recorder
        return try setUp { () throws(Terminal.SetupError) in try Terminal(configuration) }
    }
}

/// Prints a result line at once, unbuffered even into a pipe: a result is
/// shown when it is known.
func show(_ line: String) {
    writeAll(STDOUT_FILENO, line + "\n")
}

/// The system's words for a file error ("No such file or directory"), which
/// FoundationEssentials keeps inside its CocoaError.
func systemReason(_ error: any Error) -> String {
    guard let posix = (error as? CocoaError)?.underlying as? POSIXError else { return "\(error)" }
    return String(cString: strerror(posix.code.rawValue))
}

/// Writes all of `text` to `descriptor`, unbuffered (what is written is
/// written, even if the process dies next); a closed or full stream loses the
/// line, never the process.
func writeAll(_ descriptor: Int32, _ text: String) {
    try? FileDescriptor(rawValue: descriptor).writeAll(text)
}

/// Refuses an option value outside `range` with a usage error (exit 64),
/// so an absurd value never reaches arithmetic that could trap.
func require<Value: BinaryInteger>(_ value: Value, in range: ClosedRange<Int>, _ option: String) throws {
    guard let wide = Int(exactly: value), range.contains(wide) else {
        throw ValidationError("--\(option) \(value) is outside \(range.lowerBound)...\(range.upperBound)")
    }
}

/// Prints a result line (text or JSON); the detail behind it, which may
/// hold raw card answers, goes to the log (stderr), never onto the result line.
func show(_ report: PurchaseReport, json: Bool) {
    show(json ? report.json : report.text)
    if let detail = report.detail {
        logLine("\(report.result) \(report.reason ?? ""): \(detail)")
    }
}

/// Exit status for a terminal that could not get as far as a card
/// (no pcscd, no reader, no PSAM, no card in time): EX_UNAVAILABLE.
let setUpFailure: Int32 = 69

/// Runs a step that needs the readers; a failure is one clear line on stderr.
func setUp<T>(_ body: () throws(Terminal.SetupError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        logLine("\(error)")
        throw ExitCode(setUpFailure)
    }
}

/// The limits in force: the clearing platform's parameters as last received
/// (`posd sync`), else the platform's published defaults; each can be
/// overridden for bench and soak runs.
struct LimitOptions: ParsableArguments {
    @Option(help: "Override max_purchase (fen per sale).")
    var maxPurchase: UInt32?

    @Option(help: "Override max_offline_records (undelivered records).")
    var maxOfflineRecords: Int?

    @Option(help: "Override max_offline_amount (fen taken while undelivered).")
    var maxOfflineAmount: Int?

    @Option(help: "Override max_offline_hours (hours since the oldest undelivered record).")
    var maxOfflineHours: Int?

    func validate() throws {
        if let maxOfflineRecords { try require(maxOfflineRecords, in: 0...100_000_000, "max-offline-records") }
        if let maxOfflineAmount { try require(maxOfflineAmount, in: 0...Int(UInt32.max), "max-offline-amount") }
        if let maxOfflineHours { try require(maxOfflineHours, in: 0...87_840, "max-offline-hours") }
    }

    struct Limits: Sendable {
        var maxPurchase: UInt32
        var offline: OfflineLimits
        /// The stored parameters they came from (nil: none yet, or unreadable).
        var parameters: Parameters?
    }

    /// Stored parameters that cannot be read refuse every sale (fail closed),
    /// rather than fall back to the published defaults.
    func resolve(_ journal: Journal) -> Limits {
        let parameters: Parameters?
        var unknown: String?
        do { parameters = try PlatformSync.storedParameters(in: journal) } catch {
            parameters = nil
            unknown = error.description
        }
        let standard = OfflineLimits.standard
        var offline = OfflineLimits(maxRecords: maxOfflineRecords ?? parameters?.maxOfflineRecords ?? standard.maxRecords,
                                    maxAmount: maxOfflineAmount ?? parameters?.maxOfflineAmount ?? standard.maxAmount,
                                    maxHours: maxOfflineHours ?? parameters?.maxOfflineHours ?? standard.maxHours)
        offline.unknown = unknown
        return Limits(maxPurchase: maxPurchase ?? parameters.map { UInt32(clamping: $0.maxPurchase) } ?? 50_000, offline: offline,
                      parameters: parameters)
    }
}

/// Where the terminal keeps its data (the journal, and later its parameters).
struct DataOptions: ParsableArguments {
    @Option(help: "Data directory; the journal is <data-dir>/journal.sqlite.")
    var dataDir = "/var/lib/posd"

    var url: URL { URL(fileURLWithPath: dataDir) }

    /// The journal in the data directory. A directory posd may not create or
    /// write (posd run by hand as another user than the service's, with the
    /// default `/var/lib/posd`) is a configuration error that says what to
    /// do, rather than a journal fault with SQLite's words.
    func journal() throws -> Journal {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw unusable("cannot be created (\(systemReason(error)))")
        }
        guard access(url.path, W_OK | X_OK) == 0 else { throw unusable("is not writable by this user (\(String(cString: strerror(errno))))") }
        return Journal(directory: url)
    }

    private func unusable(_ why: String) -> ExitCode {
        logLine("""
            the data directory \(dataDir) \(why). Pass --data-dir DIR to keep the journal elsewhere \
            (a bench run), or provision this terminal with posd-tech provision and run posd as the user that owns it.
            """)
        return ExitCode(configurationFailure)
    }
}

struct Purchase: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one offline purchase on the first card presented.",
        discussion: """
            Exit status: 0 approved, 1 declined, 2 uncertain (the card may have been \
            debited: present it again for recovery), 4 an earlier torn sale of this card \
            was recovered instead (nothing new charged), 69 when the readers, the PSAM \
            or a card could not be reached.
            """)

    @Option(help: "Amount in fen (1 CNY = 100).")
    var amount: UInt32

    @Option(help: "After a torn debit, seconds to wait for the same card to be presented again for recovery.")
    var recoveryWaitSeconds: UInt32 = 20

    @Option(help: "Run this many purchases back to back on the card in the field (bench and soak runs).")
    var `repeat` = 1

    func validate() throws {
        try require(recoveryWaitSeconds, in: 0...600, "recovery-wait-seconds")
        try require(`repeat`, in: 1...10_000_000, "repeat")
    }

    @OptionGroup var limitOptions: LimitOptions
    @OptionGroup var readers: ReaderOptions
    @OptionGroup var data: DataOptions

    func run() throws {
        let core = try TerminalCore(data: data, limits: limitOptions)
        let journal = core.journal
        let maxPurchase = core.parameters.current.maxPurchase
        guard amount <= maxPurchase else {
            let report = PurchaseReport(.declined(Decline(.invalidAmount, "amount \(amount) is over max_purchase \(maxPurchase)")), amount: amount)
            show(report, json: readers.json)
            throw ExitCode(report.exitCode)
        }
        let terminal = try readers.terminal(core)
        var exitCode: Int32 = 0
        for _ in 0..<max(1, `repeat`) {
            let outcome = try setUp { () throws(Terminal.SetupError) in
                try terminal.purchase(amount: amount, time: journal.transactionTime(), timeoutMilliseconds: readers.waitSeconds * 1000, journal: journal,
                                      recoveryWaitMilliseconds: recoveryWaitSeconds * 1000) { card in
                    show(readers.json ? #"{"result":"present_card_again","card_no":"\#(card)"}"# : "PRESENT CARD \(card) AGAIN")
                }
            }
            let report = PurchaseReport(outcome, amount: amount)
            show(report, json: readers.json)
            if let alarm = terminal.journalAlarm {
                logLine("ALARM journal: \(alarm)")
            }
            exitCode = report.exitCode
            if exitCode != 0 && exitCode != 4 { break }  // a recovered earlier sale lets a soak run go on
        }
        throw ExitCode(exitCode)
    }
}

struct Balance: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the balance and last 10 transactions of the first card presented.")

    @OptionGroup var readers: ReaderOptions
    @OptionGroup var data: DataOptions

    func run() throws {
        let core = try TerminalCore(data: data, limits: LimitOptions.parse([]))
        let journal = core.journal
        let terminal = try readers.terminal(core)
        let result = try setUp { () throws(Terminal.SetupError) in
            try terminal.balance(timeoutMilliseconds: readers.waitSeconds * 1000, journal: journal)
        }
        switch result {
        case .success(let report):
            show(readers.json ? BalanceText.json(report) : BalanceText.text(report))
        case .failure(let decline):
            let report = PurchaseReport(.declined(decline), amount: 0)
            show(report, json: readers.json)
            throw ExitCode(1)
        }
    }
}

struct Readers: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the PC/SC readers pcscd offers, one per line.")

    func run() throws {
        do {
            for reader in try PCSCContext().readers() { print(reader) }
        } catch {
            logLine("PC/SC service: \(error)")
            throw ExitCode(setUpFailure)
        }
    }
}

struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal", abstract: "Inspect the offline journal.", subcommands: [Verify.self, Show.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the whole hash chain and report the journal's state.",
            discussion: "Exit status 0 when the journal is sound, 3 when it is in its fault state.")

        @OptionGroup var data: DataOptions

        func run() throws {
            let journal = try data.journal()
            if let fault = journal.fault {
                print("JOURNAL FAULT: \(fault)")
                throw ExitCode(3)
            }
            do {
                let checked = try journal.verifyWholeChain()
                let open = try journal.openEntries()
                print("journal \(journal.databaseURL.path): chain verified, \(checked) records, last seq \(try journal.lastSeq)")
                print("undelivered records: \(try journal.undeliveredCount)")
                print("open entries: \(open.count)" + open.map { "\n  #\($0.id) \($0.state.rawValue) card \($0.entry.cardNo) counter \($0.entry.cardCounter) amount \($0.entry.amount)" }.joined())
            } catch {
                print("JOURNAL FAULT: \(error)")
                throw ExitCode(3)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print records as JSON lines, as the clearing platform receives them.")

        @Option(help: "Print records after this seq.")
        var after = 0

        @Option(help: "At most this many records.")
        var limit = 100

        func validate() throws {
            try require(after, in: 0...Int(Int32.max), "after")
            try require(limit, in: 1...1_000_000, "limit")
        }

        @OptionGroup var data: DataOptions

        func run() throws {
            for stored in try data.journal().records(after: after, limit: limit) {
                print(String(decoding: stored.record.canonicalBytes.dropLast(), as: UTF8.self) + ",\"hash\":\"\(stored.hash)\"}")
            }
        }
    }
}
