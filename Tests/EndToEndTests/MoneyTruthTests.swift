import Foundation
import GRDB
import Hex
import Journal
import PCSC
import Purse
import Terminal
import Testing
import TestSupport
import VirtualCards

/// Money is never misreported: the contract points found by testing posd from
/// outside, each through pcscd and vpcd with the card's own state file as the
/// judge of what really happened.
extension PurchaseEndToEndTests {
    static let cardReader = "Virtual PCD 00 00"

    /// `posd` with the journal in `dataDir` (never the machine's `/var/lib/posd`).
    static func posd(_ arguments: [String], dataDir: URL) throws -> Run {
        try run("posd", arguments + ["--data-dir", dataDir.path])
    }

    /// Re-presents the card each time it leaves the field (a tear), once the
    /// reader has seen it go, as a person would, up to `times` times. Bounded:
    /// the helper gives up if the card stays in the field.
    static func representAfterEachTear(_ bench: SimulatedTerminal, times: Int) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        let card = bench.card
        let thread = Thread {
            for _ in 0..<times {
                guard card.waitUntilRemoved(seconds: 30) else { break }
                try? PCSCContext().waitForRemoval(from: cardReader, timeoutMilliseconds: 10_000)
                card.insert()
            }
            done.signal()
        }
        thread.start()
        return done
    }

    // MARK: 1. COMPLETE before 80 72

    /// The terminal killed while the PSAM's MAC2 check (`80 72`) is at the
    /// PSAM, the card gone afterwards: the journal already holds the sale as a
    /// deliverable record with its TAC (before the fix: an open entry only).
    @Test func completeIsDurableBeforeThePSAMChecksMAC2() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let data = bench.directory.appendingPathComponent("data")
        let victim = Shared<Int32>(0)
        bench.psam.withCard { psam in
            psam.hooks.onCommand = { command in
                if command.count > 1 && command[0] == 0x80 && command[1] == 0x72 {
                    let pid = victim.with { $0 }
                    if pid > 0 { kill(pid, SIGKILL) }
                }
                return .proceed
            }
        }
        let first = try Self.runUntilKilled(["purchase", "--amount", "150", "--recovery-wait-seconds", "0", "--data-dir", data.path],
                                            victim: victim)
        #expect(first == "killed")
        bench.card.remove()

        let journal = Journal(directory: data)
        let records = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.purchase], "the sale is a record, not an open entry")
        #expect(records.first.map { tacVerifies($0) } == true)
        #expect(records.first?.recovered == nil, "a fresh proof, not a recovered one")
        #expect(try journal.openEntries().isEmpty)
        #expect(try bench.cardState().balance == 10_000 - 150)
    }

    // MARK: 2. Recovery at once when the card is still in the field

    /// DEBIT commits but its `9000` answer comes back short (the card stays in
    /// the field): posd recovers at once with GET TRANSACTION PROVE and reports
    /// this sale approved, without asking for the card again and without
    /// printing the card's malformed bytes.
    @Test func malformedDebitAnswerIsRecoveredAtOnce() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let data = bench.directory.appendingPathComponent("data")
        let garbled = Shared<[UInt8]>([])
        bench.card.withCard { card in
            card.hooks.onAnswer = { command, answer in
                guard command.count > 1 && command[0] == 0x80 && command[1] == 0x54, answer.count == 10 else { return answer }
                let short = Array(answer.prefix(6)) + [0x90, 0x00]
                garbled.with { $0 = short }
                return short
            }
        }
        let started = ContinuousClock.now
        let result = try Self.posd(["purchase", "--amount", "210", "--json"], dataDir: data)
        let elapsed = ContinuousClock.now - started
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(#""recovered":true,"result":"approved""#), "\(result.stdout)")
        #expect(!result.stdout.contains("present_card_again"), "the card never left: no need to ask for it")
        #expect(elapsed < .seconds(10), "settled at once, not after the 20 s recovery wait: \(elapsed)")
        let shortHex = garbled.with { Array($0.prefix(6)).hex }
        #expect(!shortHex.isEmpty && !result.stdout.contains(shortHex), "raw card bytes stay out of the result line")
        #expect(result.stderr.contains("DEBIT answered"), "the raw answer is in the log")
        let card = try bench.cardState()
        #expect(card.balance == 10_000 - 210, "debited exactly once")
        let journal = Journal(directory: data)
        let records = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.purchase])
        #expect(records.first?.recovered == true && records.first.map { tacVerifies($0) } == true)
        #expect(try journal.openEntries().isEmpty)
    }

    /// A card in `61xx` mode whose GET RESPONSE after DEBIT is lost (`6F00`):
    /// recovered at once on the card still in the field.
    @Test func lostGetResponseAfterDebitIsRecoveredAtOnce() throws {
        var state = PurseCardState.testCard2()
        state.answerForm = .getResponse
        let bench = try SimulatedTerminal(card: state)
        defer { try? bench.close() }
        let afterDebit = Shared(false)
        bench.card.withCard { card in
            card.hooks.onCommand = { command in
                guard command.count > 1 else { return .proceed }
                if command[0] == 0x80 && command[1] == 0x54 { afterDebit.with { $0 = true } }
                if command[0] == 0x00 && command[1] == 0xC0 && afterDebit.with({ let was = $0; $0 = false; return was }) {
                    return .answer([0x6F, 0x00])
                }
                return .proceed
            }
        }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        let outcome = try bench.terminal.purchase(amount: 90, time: .now(), timeoutMilliseconds: 10_000, journal: journal,
                                                  recoveryWaitMilliseconds: 20_000) { _ in Issue.record("the card never left") }
        guard case .approved(let receipt) = outcome else { Issue.record("\(outcome)"); return }
        #expect(receipt.recovered)
        #expect(try bench.cardState().balance == 5000 - 90)
        #expect(try journal.openEntries().isEmpty)
    }

    // MARK: 3. A second tear keeps asking

    /// The first DEBIT tears before its commit, the card comes back, recovery
    /// proves it did not happen and the sale is made afresh; that DEBIT tears
    /// after its commit. The terminal keeps asking for the card (before the fix
    /// it ended at once as UNCERTAIN) and settles the sale when it comes back.
    @Test func aSecondTearKeepsAskingForTheCard() throws {
        let bench = try SimulatedTerminal(card: .testCard2())
        defer { try? bench.close() }
        bench.card.withCard { card in
            card.armTear(.debit, nth: 1, .beforeCommit)
            card.armTear(.debit, nth: 2, .afterCommit)
        }
        let presenter = Self.representAfterEachTear(bench, times: 2)
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        var asked: [CardNumber] = []
        let outcome = try bench.terminal.purchase(amount: 75, time: .now(), timeoutMilliseconds: 10_000, journal: journal,
                                                  recoveryWaitMilliseconds: 30_000) { asked.append($0) }
        #expect(presenter.wait(timeout: .now() + 30) == .success)
        guard case .approved(let receipt) = outcome else { Issue.record("\(outcome)"); return }
        #expect(receipt.recovered)
        #expect(asked.count == 1, "asked once, then kept waiting")
        #expect(try bench.cardState().balance == 5000 - 75, "debited exactly once")
        let records = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.declined, .purchase])
        #expect(records.first?.reason == "debit_not_committed")
        #expect(records.last?.recovered == true && records.last.map { tacVerifies($0) } == true)
        #expect(try journal.openEntries().isEmpty)
    }

    // MARK: 7. Card-supplied numbers never trap

    /// A bit flip in INITIALIZE's balance makes it report less than the
    /// amount it accepted: a typed decline before DEBIT, the card untouched,
    /// the figures the card gave in the declined record (before the fix: the
    /// sale was debited, journalled, and posd died on an overflow).
    @Test func aBalanceBelowTheAmountIsDeclinedBeforeDebit() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let data = bench.directory.appendingPathComponent("data")
        bench.card.withCard { card in
            card.hooks.onAnswer = { command, answer in
                guard command.count > 1 && command[0] == 0x80 && command[1] == 0x50, answer.count == 17 else { return answer }
                return [0x00, 0x00, 0x00, 0x64] + answer.dropFirst(4)  // balance 1.00 for a sale of 2.00
            }
        }
        let result = try Self.posd(["purchase", "--amount", "200", "--json"], dataDir: data)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(#""reason":"card_error""#))
        let card = try bench.cardState()
        #expect(card.balance == 10_000 && card.offlineCounter == 5, "the card is untouched")
        let records = try Journal(directory: data).records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.declined])
        #expect(records.first?.balanceBefore == 100 && records.first?.cardCounter == 5, "as far as the card told")
    }

    /// Answers no card may give: SELECT answered with 300 bytes (more than a
    /// short APDU holds), GET RESPONSE answered with one byte, a 0x00 status.
    /// Each is a decline before DEBIT with the card untouched, never a trap.
    @Test(arguments: ["over-long", "one byte", "odd status"])
    func impossibleAnswersAreDeclinesNotTraps(_ answer: String) throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let data = bench.directory.appendingPathComponent("data")
        let made: [UInt8] = switch answer {
        case "over-long": [UInt8](repeating: 0x6F, count: 300) + [0x90, 0x00]
        case "one byte": [0x90]
        default: [0x00, 0x00]
        }
        bench.card.withCard { card in
            card.hooks.onCommand = { command in command.count > 1 && command[1] == 0xA4 ? .answer(made) : .proceed }
        }
        let result = try Self.posd(["purchase", "--amount", "120", "--json", "--recovery-wait-seconds", "0"], dataDir: data)
        #expect(result.status == 1, "\(answer): \(result.status) \(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(#""result":"declined""#), "\(answer): \(result.stdout)")
        let card = try bench.cardState()
        #expect(card.balance == 10_000 && card.offlineCounter == 5, "\(answer): the card is untouched")
    }

    /// Absurd option values are usage errors, not crashes.
    @Test func absurdOptionValuesAreUsageErrors() throws {
        let dir = try TemporaryDirectory("posd-options")
        defer { dir.remove() }
        for arguments in [["purchase", "--amount", "1", "--wait-seconds", "5000000"],
                          ["purchase", "--amount", "1", "--recovery-wait-seconds", "4294967295"],
                          ["purchase", "--amount", "1", "--repeat=-3"],
                          ["balance", "--wait-seconds", "0"],
                          ["cashier", "--board", "x", "--card-wait-seconds", "99999999"],
                          ["journal", "show", "--limit=-1"]] {
            let result = try Self.posd(arguments, dataDir: dir.url)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("is outside"), "\(arguments): \(result.stderr)")
        }
    }

    // MARK: 8. Fail closed on money paths

    /// The hot list, the card's open entry or the stored parameters cannot be
    /// read: the sale is refused with a named reason and the card untouched
    /// (before the fix each was read as "nothing there" and the sale went on).
    @Test(arguments: ["hot list", "open entry", "parameters"])
    func unreadableMoneyStateRefusesTheSale(_ broken: String) throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let data = bench.directory.appendingPathComponent("data")
        let journal = Journal(directory: data)
        #expect(journal.fault == nil)
        let sql = switch broken {
        case "hot list": "DROP TABLE hotlist"
        case "open entry": "INSERT INTO entry (state, body, card_no) VALUES ('uncertain', '{\"garbled\":1}', '8888000000000001')"
        default: "INSERT OR REPLACE INTO setting (key, value) VALUES ('parameters', '{\"version\":')"
        }
        try DatabaseQueue(path: journal.databaseURL.path).write { try $0.execute(sql: sql) }

        let result = try Self.posd(["purchase", "--amount", "120", "--json", "--wait-seconds", "5"], dataDir: data)
        #expect(result.status == 1, "\(broken): \(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(#""reason":"journal_unavailable""#), "\(broken): \(result.stdout)")
        let card = try bench.cardState()
        #expect(card.balance == 10_000 && card.offlineCounter == 5, "\(broken): the card is untouched")
        #expect(try bench.psamState().sequence == 1, "\(broken): the PSAM is untouched")
    }

    // MARK: 9. A journal is never silently replaced

    /// `journal.sqlite` truncated to nothing beside its `journal.id`: the
    /// journal is in its fault state and the sale is refused before the card
    /// (before the fix a fresh chain started at seq 1).
    @Test func aTruncatedJournalIsAFaultNotAFreshChain() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let data = bench.directory.appendingPathComponent("data")
        let sale = try Self.posd(["purchase", "--amount", "120", "--json"], dataDir: data)
        #expect(sale.status == 0, "\(sale.stdout)\(sale.stderr)")
        for suffix in ["", "-wal", "-shm"] {
            let file = data.appendingPathComponent(Journal.databaseName + suffix)
            if FileManager.default.fileExists(atPath: file.path) { try Data().write(to: file) }
        }
        let refused = try Self.posd(["purchase", "--amount", "120", "--json"], dataDir: data)
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stdout.contains(#""reason":"journal_unavailable""#))
        #expect(try bench.cardState().balance == 10_000 - 120, "the second sale never reached the card")
        let verify = try Self.posd(["journal", "verify"], dataDir: data)
        #expect(verify.status == 3 && verify.stdout.contains("truncated or replaced"), "\(verify.stdout)")
    }

    // MARK: 12. Tests stay in their sandbox; the default data dir says what to do

    /// `posd purchase` run by hand as a user who may not write the default
    /// `/var/lib/posd`: one line that says to pass `--data-dir` or provision,
    /// exit 78, no SQLite error. (As root the test runs it as `nobody`; it
    /// never runs anything that could write the machine's data directory.)
    @Test func theDefaultDataDirectoryExplainsItself() throws {
        // A copy `nobody` can run wherever the checkout is (a home directory may be closed to it).
        let dir = try TemporaryDirectory("posd-nobody")
        defer { dir.remove() }
        let posd = dir.url.appendingPathComponent("posd").path
        try FileManager.default.copyItem(atPath: Self.binaries.appendingPathComponent("posd").path, toPath: posd)
        for path in [dir.url.path, posd] { chmod(path, 0o755) }
        let process = Process()
        if getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", "nobody", "--", posd, "purchase", "--amount", "100"]
        } else {
            try #require(access("/var/lib", W_OK) != 0 && access("/var/lib/posd", W_OK) != 0, "this user could write /var/lib/posd")
            process.executableURL = URL(fileURLWithPath: posd)
            process.arguments = ["purchase", "--amount", "100"]
        }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 78, "\(stderr)")
        #expect(stderr.contains("/var/lib/posd") && stderr.contains("--data-dir") && stderr.contains("provision"), "\(stderr)")
        #expect(!stderr.lowercased().contains("sqlite"), "\(stderr)")
    }

    // MARK: 10. No call blocks forever

    /// The card commits DEBIT and then answers with a 0-length vpcd frame,
    /// which wedges vpcd's read inside pcscd: SCardTransmit would never return
    /// (before the fix posd hung in `poll(-1)`). posd gives the DEBIT up after
    /// its bound, marks it UNCERTAIN, finds the reader still wedged, asks for
    /// the card again, and once the card has left and come back settles the
    /// sale by recovery. A watchdog kills posd if it hangs, so the test fails
    /// instead of hanging.
    @Test func aReaderThatNeverAnswersCostsABoundNotTheTerminal() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let data = bench.directory.appendingPathComponent("data")
        let silenced = Shared(false)
        bench.card.withCard { card in
            card.hooks.onAnswer = { command, answer in
                guard command.count > 1 && command[0] == 0x80 && command[1] == 0x54 && !silenced.with({ $0 }) else { return answer }
                silenced.with { $0 = true }
                return []  // a 0-length frame: vpcd's read never completes
            }
        }
        let started = try PosdRun.start(["purchase", "--amount", "130", "--json", "--recovery-wait-seconds", "90", "--data-dir", data.path])
        let watchdog = DispatchWorkItem { kill(started.0.processIdentifier, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        defer { watchdog.cancel() }

        let asked = PlatformProcess.readLine(started.1.fileHandleForReading)
        #expect(asked.contains("present_card_again"), "posd gave up on the wedged reader and asked for the card: \(asked)")
        bench.card.remove()
        try PCSCContext().waitForRemoval(from: Self.cardReader, timeoutMilliseconds: 30_000)
        bench.card.insert()
        let run = PosdRun.finish(started)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr.suffix(1500))")
        #expect(run.stdout.contains(#""recovered":true,"result":"approved""#), "\(run.stdout)")
        #expect(run.stderr.contains("did not answer within its time bound"), "the overrun is in the log")
        #expect(try bench.cardState().balance == 10_000 - 130, "debited exactly once")
        let journal = Journal(directory: data)
        #expect(try journal.records(after: 0, limit: 10).map(\.record.kind) == [.purchase])
        #expect(try journal.openEntries().isEmpty)
    }
}
