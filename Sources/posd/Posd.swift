import ArgumentParser
import Foundation
import Hex
import Purse
import PCSC
import Terminal

@main
struct Posd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "posd",
        abstract: "Offline payment terminal core for PBOC electronic purses.",
        subcommands: [Purchase.self, Balance.self, Readers.self])
}

/// Reader options shared by the subcommands.
struct ReaderOptions: ParsableArguments {
    @Option(help: "PC/SC reader holding the customer's card.")
    var cardReader = "Virtual PCD 00 00"

    @Option(help: "PC/SC reader holding the PSAM.")
    var psamReader = "Virtual PCD 00 01"

    @Option(help: "Seconds to wait for a card.")
    var waitSeconds: UInt32 = 30

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func terminal() throws -> Terminal {
        try setUp { () throws(Terminal.SetupError) in try Terminal(Terminal.Configuration(cardReader: cardReader, psamReader: psamReader)) }
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
        FileHandle.standardError.write(Data("posd: \(error)\n".utf8))
        throw ExitCode(setUpFailure)
    }
}

struct Purchase: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one offline purchase on the first card presented.",
        discussion: """
            Exit status: 0 approved, 1 declined, 2 uncertain (the card may have been \
            debited: present it again for recovery), 69 when the readers, the PSAM \
            or a card could not be reached.
            """)

    @Option(help: "Amount in fen (1 CNY = 100).")
    var amount: UInt32

    @OptionGroup var readers: ReaderOptions

    func run() throws {
        let terminal = try readers.terminal()
        // The durable journal arrives with the journal issue; until then the
        // PENDING entry is only reported, never stored.
        let outcome = try setUp { () throws(Terminal.SetupError) in
            try terminal.purchase(amount: amount, time: .now(), timeoutMilliseconds: readers.waitSeconds * 1000,
                                  recordPending: { _ in })
        }
        let report = PurchaseReport(outcome, amount: amount)
        print(readers.json ? report.json : report.text)
        throw ExitCode(report.exitCode)
    }
}

struct Balance: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the balance and last 10 transactions of the first card presented.")

    @OptionGroup var readers: ReaderOptions

    func run() throws {
        let terminal = try readers.terminal()
        let result = try setUp { () throws(Terminal.SetupError) in try terminal.balance(timeoutMilliseconds: readers.waitSeconds * 1000) }
        switch result {
        case .success(let report):
            print(readers.json ? BalanceText.json(report) : BalanceText.text(report))
        case .failure(let decline):
            let report = PurchaseReport(.declined(decline), amount: 0)
            print(readers.json ? report.json : report.text)
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
            FileHandle.standardError.write(Data("posd: PC/SC service: \(error)\n".utf8))
            throw ExitCode(setUpFailure)
        }
    }
}
