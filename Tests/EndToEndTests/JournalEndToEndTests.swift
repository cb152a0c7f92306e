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

/// The journal against real purchases through pcscd: write-ahead before
/// DEBIT, a full disk, and `kill -9` at random instants.
extension PurchaseEndToEndTests {
    /// The card itself checks, the moment DEBIT reaches it, that a PENDING
    /// entry is already committed to the journal file (read through a separate
    /// SQLite connection, which sees only committed data).
    @Test func pendingIsDurableBeforeDebitReachesTheCard() throws {
        let bench = try SimulatedTerminal(card: .testCard2())
        defer { try? bench.close() }
        let journalDir = bench.directory.appendingPathComponent("data")
        let journal = Journal(directory: journalDir)
        let path = journal.databaseURL.path
        let observed = Observations()
        bench.card.withCard { card in
            card.willMoveMoney = { _ in
                let pending = try? DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; return c }())
                    .read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM entry WHERE state = 'pending'") }
                observed.append(pending ?? -1)
            }
        }
        for amount in [100, 200] as [UInt32] {
            let outcome = try bench.terminal.purchase(amount: amount, time: .now(), timeoutMilliseconds: 10_000, journal: journal)
            guard case .approved = outcome else { Issue.record("\(outcome)"); return }
        }
        #expect(observed.values == [1, 1], "each DEBIT found exactly one durable PENDING entry")
        #expect(try journal.openEntries().isEmpty, "both entries closed into records")
        #expect(try journal.records(after: 0, limit: 10).map(\.record.amount) == [100, 200])
    }

    /// The journal's disk is full: the sale is refused before the card is
    /// touched, with a clear reason, and what was written stays.
    @Test func fullDiskRefusesTheSaleBeforeTheCard() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let mountPoint = bench.directory.appendingPathComponent("small-disk")
        let disk = try SmallDisk(at: mountPoint, kilobytes: 2048)
        defer { disk.unmount() }

        let journal = Journal(directory: mountPoint.appendingPathComponent("data"))
        guard case .approved = try bench.terminal.purchase(amount: 100, time: .now(), timeoutMilliseconds: 10_000, journal: journal) else {
            Issue.record("first sale not approved: \(journal.fault ?? "")")
            return
        }
        let cardBefore = try bench.cardState()
        try disk.fill()

        let outcome = try bench.terminal.purchase(amount: 100, time: .now(), timeoutMilliseconds: 10_000, journal: journal)
        guard case .declined(let decline) = outcome else { Issue.record("expected a refusal, got \(outcome)"); return }
        #expect(decline.reason == .journalUnavailable)
        #expect(decline.detail.contains("disk full"), "\(decline.detail)")
        #expect(try bench.cardState() == cardBefore, "the card was not touched")

        try disk.emptyFiller()
        let reopened = Journal(directory: mountPoint.appendingPathComponent("data"))
        #expect(reopened.fault == nil)
        #expect(try reopened.verifyWholeChain() >= 1)
        let records = try reopened.records(after: 0, limit: 10).map(\.record)
        #expect(records.first?.kind == .purchase && records.first?.amount == 100, "the sale before the disk filled is intact")
        // The refusal itself is journalled too when the space left allowed it.
        #expect(records.dropFirst().allSatisfy { $0.kind == .declined && $0.reason == "journal_unavailable" })
    }

    /// SQLite-style crash testing: `posd purchase --repeat` in a child process,
    /// `kill -9` at seeded random points of its APDU stream, and after each kill a restart that
    /// must find the chain intact, `seq` gapless, every debit the card shows in
    /// the journal (record or UNCERTAIN entry) and no record without a debit.
    /// `POSD_CRASH_SEED` and `POSD_CRASH_KILLS` reproduce or lengthen a run.
    @Test func killNineAtRandomInstantsLosesNothing() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["POSD_CRASH_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let kills = environment["POSD_CRASH_KILLS"].flatMap(Int.init) ?? 200
        var random = SeededRandom(seed: seed)
        var card = PurseCardState.testCard1()
        card.balance = 100_000_000
        let bench = try SimulatedTerminal(card: card)
        defer { try? bench.close() }
        let dataDir = bench.directory.appendingPathComponent("data")
        let initialCounter = Int(card.offlineCounter)
        var lastSeq = 0
        var recorded = Set<Int>()
        var uncertain = Set<Int>()
        var everUncertain = Set<Int>()
        var recoveredRecords = 0

        for kill in 1...kills {
            // The fault injected, at a seeded point of the APDU stream rather than
            // a moment: the child is killed as its n-th command reaches the PSAM
            // during start-up (a quarter of the kills), or the card or the PSAM in
            // its second to fourth purchase (INITIALIZE, DEBIT, 80 70, 80 72 ...).
            let victim = Shared<Int32>(0), seen = Shared(0)
            let (onPSAM, at): (Bool, Int) = switch Int.random(in: 0..<4, using: &random) {
            case 0: (true, Int.random(in: 1...3, using: &random))
            case 1: (true, Int.random(in: 6...11, using: &random))
            default: (false, Int.random(in: 5...16, using: &random))
            }
            let killAt: @Sendable ([UInt8]) -> CommandFate = { _ in
                if seen.with({ $0 += 1; return $0 }) >= at, case let pid = victim.with({ $0 }), pid != 0 { Glibc.kill(pid, SIGKILL) }
                return .proceed
            }
            bench.card.withCard { $0.hooks.onCommand = onPSAM ? nil : killAt }
            bench.psam.withCard { $0.hooks.onCommand = onPSAM ? killAt : nil }
            let output = Pipe()
            let child = try Self.spawn("posd", ["purchase", "--amount", "1", "--repeat", "1000000", "--json",
                                                 "--wait-seconds", "5", "--data-dir", dataDir.path], output: output)
            victim.with { $0 = child.processIdentifier }
            child.waitUntilExit()  // until the hook kills it
            bench.card.withCard { $0.hooks = CommandHooks() }
            bench.psam.withCard { $0.hooks = CommandHooks() }

            let journal = Journal(directory: dataDir)  // the restart: verifies the chain past its checkpoint
            let context = "seed \(seed), kill \(kill)"
            #expect(journal.fault == nil, "\(context): \(journal.fault ?? "")")
            let new = try journal.records(after: lastSeq, limit: Int.max)
            #expect(new.map(\.record.seq) == Array((lastSeq + 1)..<(lastSeq + 1 + new.count)), "\(context): seq gapless")
            lastSeq += new.count
            recoveredRecords += new.filter { $0.record.recovered == true }.count
            for stored in new where stored.record.kind == .purchase {
                #expect(recorded.insert(stored.record.cardCounter).inserted, "\(context): a debit recorded twice")
                #expect(tacVerifies(stored.record), "\(context): TAC of seq \(stored.record.seq)")
            }
            let open = try journal.openEntries()
            #expect(!open.contains { $0.state == .pending }, "\(context): PENDING survives no restart")
            uncertain = Set(open.filter { $0.state == .uncertain }.map(\.entry.cardCounter))
            everUncertain.formUnion(uncertain)

            let cardCounter = Int(try bench.cardState().offlineCounter)
            #expect(recorded.allSatisfy { $0 < cardCounter }, "\(context): a record for a debit the card never made")
            let missing = (initialCounter..<cardCounter).filter { !recorded.contains($0) && !uncertain.contains($0) }
            #expect(missing.isEmpty, "\(context): debits with counters \(missing) are not in the journal")
            if !missing.isEmpty { break }
        }
        #expect(try Journal(directory: dataDir).verifyWholeChain() == lastSeq, "the whole chain, from record 1")
        print("crash test: seed \(seed), \(kills) kills, \(recorded.count) purchases journalled, \(everUncertain.count) debits left "
              + "uncertain by a kill, \(recoveredRecords) of them completed by recovery, \(uncertain.count) still open")
        #expect(recorded.count > kills, "the kills must land among purchases, or the test proves little")
        #expect(!everUncertain.isEmpty, "some kills must land between PENDING and the record")
    }

    static func spawn(_ tool: String, _ arguments: [String], output: Pipe) throws -> Process {
        try PosdRun.checkSandboxed(tool: tool, arguments)
        let process = Process()
        process.executableURL = binaries.appendingPathComponent(tool)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

extension PurchaseEndToEndTests {
    /// Blocks until a whole line (or the end) arrives on `handle`.
    static func readLine(_ handle: FileHandle) -> String {
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        return String(decoding: line, as: UTF8.self)
    }
}

/// Values recorded from the simulator's thread.
final class Observations: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Int] = []
    func append(_ value: Int) { lock.withLock { storage.append(value) } }
    var values: [Int] { lock.withLock { storage } }
}
