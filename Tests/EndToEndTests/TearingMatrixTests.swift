import Foundation
import Hex
import Journal
import PCSC
import Purse
import Terminal
import Testing
import TestSupport
import VirtualCards

/// A thread-safe box for what the simulator's thread and the test share.
final class Shared<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}

/// Tearing at every APDU boundary of a purchase, on both test cards: the card
/// pulled before each command, DEBIT torn after its commit, the terminal
/// killed (`kill -9`) as each card command and each PSAM command of the sale
/// reaches its card, and the card pulled again at each command of the
/// recovery that follows a torn DEBIT. Each case is then settled by
/// presenting the card again (unless the journal already holds the sale), and
/// must end with the card debited exactly once, one record for it (fresh or
/// recovered) whose TAC verifies, nothing left open, and the chain intact.
extension PurchaseEndToEndTests {
    enum Tear: CustomStringConvertible {
        case pulledBefore(Int)
        case tornAfterCommit
        case killedBefore(Int)
        /// The terminal killed as the PSAM command with this INS reaches the PSAM.
        case killedAtPSAM(UInt8)
        /// DEBIT torn after its commit, then the card pulled again at the k-th
        /// command of the recovery when it is presented.
        case tornDuringRecovery(Int)

        var description: String {
            switch self {
            case .pulledBefore(let k): "card pulled before APDU \(k)"
            case .tornAfterCommit: "torn right after the commit"
            case .killedBefore(let k): "terminal killed at APDU \(k)"
            case .killedAtPSAM(let ins): "terminal killed at PSAM 80 \([ins].hex)"
            case .tornDuringRecovery(let k): "torn, then pulled at recovery APDU \(k)"
            }
        }

        var killsTheTerminal: Bool {
            switch self {
            case .killedBefore, .killedAtPSAM: true
            default: false
            }
        }
    }

    /// Card APDUs of one purchase: CU card 1 (SELECT, GET DATA, INITIALIZE,
    /// DEBIT); TU card 2 without 9F0C (SELECT CU, SELECT TU, READ BINARY,
    /// INITIALIZE, DEBIT). PSAM APDUs of the sale: `80 70` (MAC1) and `80 72`
    /// (MAC2). Recovery APDUs: SELECT (card 2: SELECT CU, SELECT TU, READ
    /// BINARY), then GET TRANSACTION PROVE.
    static let matrix: [(card: String, tear: Tear)] = {
        var cases: [(String, Tear)] = []
        for (card, apdus, recoveryAPDUs) in [("card1", 4, 2), ("card2", 5, 4)] {
            cases += (1...apdus).map { (card, .pulledBefore($0)) }
            cases.append((card, .tornAfterCommit))
            cases += (1...apdus).map { (card, .killedBefore($0)) }
            cases += [0x70, 0x72].map { (card, .killedAtPSAM($0)) }
            cases += (1...recoveryAPDUs).map { (card, .tornDuringRecovery($0)) }
        }
        return cases
    }()

    @Test func tearingMatrix() throws {
        var table: [String] = []
        for (cardName, tear) in Self.matrix {
            let line = try Self.runTearingCase(cardName, tear)
            table.append(line)
        }
        print("tearing matrix, \(Self.matrix.count) cases (purchase of 1.23):")
        print("  " + "card".padding(toLength: 7, withPad: " ", startingAt: 0) + "case".padding(toLength: 40, withPad: " ", startingAt: 0)
              + "first outcome".padding(toLength: 32, withPad: " ", startingAt: 0) + "settled as")
        table.forEach { print("  " + $0) }
    }

    static func runTearingCase(_ cardName: String, _ tear: Tear) throws -> String {
        let amount: UInt32 = 123
        let initial: PurseCardState = cardName == "card1" ? .testCard1() : .testCard2()
        let bench = try SimulatedTerminal(card: initial)
        defer { try? bench.close() }
        let dataDir = bench.directory.appendingPathComponent("data")
        let victim = Self.arm(tear, on: bench, committing: .debit)

        // The interrupted sale.
        var first: String
        if tear.killsTheTerminal {
            first = try Self.runUntilKilled(["purchase", "--amount", "\(amount)", "--recovery-wait-seconds", "0", "--data-dir", dataDir.path],
                                            victim: victim)
        } else {
            let outcome = try bench.terminal.purchase(amount: amount, time: .now(), timeoutMilliseconds: 10_000,
                                                      journal: Journal(directory: dataDir))
            first = Self.label(outcome)
            try Self.presentAgainAfterTear(bench)
        }
        bench.card.withCard { $0.hooks = CommandHooks() }
        bench.psam.withCard { $0.hooks = CommandHooks() }
        if case .tornDuringRecovery(let k) = tear {
            // The card comes back and is pulled again during the recovery itself.
            let commands = Shared(0)
            bench.card.withCard { card in
                card.hooks.onCommand = { _ in commands.with { $0 += 1; return $0 } == k ? .vanish : .proceed }
            }
            let interrupted = try bench.terminal.purchase(amount: amount, time: .now(), timeoutMilliseconds: 10_000,
                                                          journal: Journal(directory: dataDir))
            first += ", then " + Self.label(interrupted)
            try Self.presentAgainAfterTear(bench)
            bench.card.withCard { $0.hooks = CommandHooks() }
        }

        // The card presented again, to a restarted terminal, unless the
        // journal already holds the sale (the terminal died after COMPLETE).
        let journal = Journal(directory: dataDir)
        let context = "\(cardName), \(tear)"
        let settled: String
        if try journal.records(after: 0, limit: 10).contains(where: { $0.record.kind == .purchase }) && journal.openEntries().isEmpty {
            settled = "journalled before the kill"
        } else {
            let outcome = try bench.terminal.purchase(amount: amount, time: .now(), timeoutMilliseconds: 10_000, journal: journal)
            switch outcome {
            case .approved, .recovered: break
            default: Issue.record("\(context): settled as \(outcome)")
            }
            settled = Self.label(outcome)
        }
        return try Self.check(context, cardName, tear, first, settled, bench, journal, initial, amount)
    }

    /// Sets the card up for `tear`: the k-th command vanishes, the command
    /// `committing` tears after its commit, or the k-th command kills the
    /// terminal (whose pid goes in the returned box) as it reaches the card.
    static func arm(_ tear: Tear, on bench: SimulatedTerminal, committing: TearSwitch.Command) -> Shared<Int32> {
        let commands = Shared(0)
        let victim = Shared<Int32>(0)
        switch tear {
        case .pulledBefore(let k):
            bench.card.withCard { card in
                card.hooks.onCommand = { _ in commands.with { $0 += 1; return $0 } == k ? .vanish : .proceed }
            }
        case .tornAfterCommit:
            bench.card.withCard { $0.armTear(committing, nth: 1, .afterCommit) }
        case .killedBefore(let k):
            bench.card.withCard { card in
                card.hooks.onCommand = { _ in
                    if commands.with({ $0 += 1; return $0 }) == k {
                        let pid = victim.with { $0 }
                        if pid > 0 { kill(pid, SIGKILL) }
                    }
                    return .proceed  // the card goes on: the terminal died, not the card
                }
            }
        case .killedAtPSAM(let ins):
            bench.psam.withCard { psam in
                psam.hooks.onCommand = { command in
                    if command.count > 1 && command[0] == 0x80 && command[1] == ins {
                        let pid = victim.with { $0 }
                        if pid > 0 { kill(pid, SIGKILL) }
                    }
                    return .proceed
                }
            }
        case .tornDuringRecovery:
            bench.card.withCard { $0.armTear(committing, nth: 1, .afterCommit) }
        }
        return victim
    }

    /// A tear takes the card out of the field; it comes back once the reader
    /// has seen it gone, as a person re-presenting it would.
    static func presentAgainAfterTear(_ bench: SimulatedTerminal) throws {
        bench.card.waitUntilRemoved()
        try PCSCContext().waitForRemoval(from: bench.terminal.configuration.cardReader, timeoutMilliseconds: 10_000)
        bench.card.insert()
    }

    /// `posd` run until it exits or is killed: "killed" or "exit N".
    static func runUntilKilled(_ arguments: [String], victim: Shared<Int32>) throws -> String {
        try PosdRun.checkSandboxed(tool: "posd", arguments)
        let process = Process()
        process.executableURL = binaries.appendingPathComponent("posd")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        victim.with { $0 = process.processIdentifier }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? "killed" : "exit \(process.terminationStatus)"
    }

    static func check(_ context: String, _ cardName: String, _ tear: Tear, _ first: String, _ settled: String,
                      _ bench: SimulatedTerminal, _ journal: Journal, _ initial: PurseCardState, _ amount: UInt32) throws -> String {
        let card = try bench.cardState()
        #expect(card.balance == initial.balance - amount, "\(context): debited exactly once")
        #expect(card.offlineCounter == initial.offlineCounter + 1, "\(context)")
        #expect(journal.fault == nil, "\(context)")
        #expect(try journal.verifyWholeChain() >= 1, "\(context)")
        let purchases = try journal.records(after: 0, limit: 100).map(\.record).filter { $0.kind == .purchase }
        #expect(purchases.count == 1, "\(context): one purchase record, got \(purchases.count)")
        #expect(purchases.first.map { tacVerifies($0) } == true, "\(context): TAC verifies")
        #expect(purchases.first?.cardCounter == Int(initial.offlineCounter), "\(context)")
        #expect(try journal.openEntries().isEmpty, "\(context): nothing left open")
        let recovered = purchases.first?.recovered == true
        return cardName.padding(toLength: 7, withPad: " ", startingAt: 0)
            + "\(tear)".padding(toLength: 40, withPad: " ", startingAt: 0)
            + first.padding(toLength: 32, withPad: " ", startingAt: 0)
            + "\(settled)\(recovered ? " (record recovered)" : ""): debited once, 1 record"
    }

    static func label(_ outcome: PurchaseOutcome) -> String {
        switch outcome {
        case .approved: "approved"
        case .declined(let decline): decline.reason.rawValue
        case .uncertain: "uncertain"
        case .recovered: "recovered"
        case .blocked(let block): block.reason
        }
    }
}
