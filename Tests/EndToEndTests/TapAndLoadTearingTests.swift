import Fares
import Foundation
import Hex
import IssuerCrypto
import Journal
import PCSC
import Purse
import Terminal
import Testing
import TestSupport
import VirtualCards

/// The tearing matrix for the other two money-moving transactions: a CAPP
/// tap-off (3.00, composite record rewritten) and an online load (20.00), on
/// both test cards, torn at every APDU boundary: the card pulled before each
/// command, DEBIT or CREDIT torn after its commit, the terminal killed as each
/// card command and (for the tap) each PSAM command of the transaction
/// reaches its card, and the card pulled again at each command of the
/// recovery after a torn commit. Presented again, every case must end with
/// the money moved exactly once, one record for it whose TAC verifies, nothing
/// left open, and the chain intact.
extension PurchaseEndToEndTests {
    enum Moving: String, CustomStringConvertible {
        case tap = "tap-off 3.00", load = "load 20.00"
        var description: String { rawValue }
    }

    /// Card APDUs per transaction: CU card 1 has `9F0C`; TU card 2 is selected
    /// after CU is refused and needs READ BINARY; only CU cards get GET DATA, and not for loads.
    static let tapAndLoadMatrix: [(card: String, moving: Moving, tear: Tear)] = {
        var cases: [(String, Moving, Tear)] = []
        for (card, moving, apdus) in [("card1", Moving.tap, 6), ("card2", .tap, 7), ("card1", .load, 4), ("card2", .load, 6)] {
            cases += (1...apdus).map { (card, moving, .pulledBefore($0)) }
            cases.append((card, moving, .tornAfterCommit))
            cases += (1...apdus).map { (card, moving, .killedBefore($0)) }
            // A load uses no PSAM once started; a tap asks it for MAC1 and checks MAC2.
            if moving == .tap { cases += [0x70, 0x72].map { (card, moving, .killedAtPSAM($0)) } }
            cases += (1...(card == "card1" ? 2 : 4)).map { (card, moving, .tornDuringRecovery($0)) }
        }
        return cases
    }()

    @Test func tearingMatrixForTapsAndLoads() async throws {
        var table: [String] = []
        for (card, moving, tear) in Self.tapAndLoadMatrix {
            table.append(try await Self.runTearingCase(card, moving, tear))
        }
        print("tearing matrix, \(Self.tapAndLoadMatrix.count) cases (CAPP tap-off and online load):")
        table.forEach { print("  " + $0) }
    }

    static let tapRules = FareRules(mode: .distance(route), line: 0x12, stop: 3, terminal: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
                                    transferWindowSeconds: 5400, transferDiscount: 100)
    static let pin: [UInt8] = [0x12, 0x34, 0x56]

    static func runTearingCase(_ cardName: String, _ moving: Moving, _ tear: Tear) async throws -> String {
        var initial: PurseCardState = cardName == "card1" ? .testCard1() : .testCard2()
        let profile: PurseProfile = cardName == "card1" ? .cu : .tu
        if moving == .tap {
            // On the bus since ten minutes ago, boarded at stop 1.
            let boarded = CompositeRecord(tappedOn: true, entryTime: .now(Date().addingTimeInterval(-600)), line: 0x12, entryStop: 1,
                                          entryTerminal: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
            initial.compositeRecord = boarded.bytes(for: profile)
        }
        let bench = try SimulatedTerminal(card: initial)
        defer { try? bench.close() }
        let dataDir = bench.directory.appendingPathComponent("data")
        let victim = arm(tear, on: bench, committing: moving == .tap ? .debit : .credit)

        var first: String
        if tear.killsTheTerminal {
            switch moving {
            case .tap:
                let routeFile = bench.directory.appendingPathComponent("route.json")
                try JSONEncoder().encode(route).write(to: routeFile)
                first = try runUntilKilled(["validator", "--route", routeFile.path, "--line", "18", "--stop", "3", "--taps", "1",
                                            "--recovery-wait-seconds", "0", "--data-dir", dataDir.path], victim: victim)
            case .load:
                let platform = try PlatformProcess(directory: bench.directory)
                first = try runUntilKilled(["load", "--amount", "2000", "--pin", "123456", "--recovery-wait-seconds", "0"]
                                           + platform.posdArguments(dataDir: dataDir), victim: victim)
            }
        } else {
            first = label(try await attempt(moving, bench, Journal(directory: dataDir)))
            try presentAgainAfterTear(bench)
        }
        bench.card.withCard { $0.hooks = CommandHooks() }
        bench.psam.withCard { $0.hooks = CommandHooks() }
        if case .pulledBefore = tear { #expect(first != "approved", "\(cardName) \(moving) \(tear): the tear happened") }
        if case .tornDuringRecovery(let k) = tear {
            let commands = Shared(0)
            bench.card.withCard { card in
                card.hooks.onCommand = { _ in commands.with { $0 += 1; return $0 } == k ? .vanish : .proceed }
            }
            first += ", then " + label(try await attempt(moving, bench, Journal(directory: dataDir)))
            try presentAgainAfterTear(bench)
            bench.card.withCard { $0.hooks = CommandHooks() }
        }

        // Presented again, to a restarted terminal, unless the journal already
        // holds the transaction (the terminal died after COMPLETE).
        let journal = Journal(directory: dataDir)
        let kind: ClearingRecord.Kind = moving == .tap ? .cappPurchase : .load
        let context = "\(cardName), \(moving), \(tear)"
        let settled: String
        if try journal.records(after: 0, limit: 10).contains(where: { $0.record.kind == kind }) && journal.openEntries().isEmpty {
            settled = "journalled before the kill"
        } else {
            let outcome = try await attempt(moving, bench, journal)
            switch outcome {
            case .approved, .recovered: break
            default: Issue.record("\(context): settled as \(outcome)")
            }
            settled = label(outcome)
        }
        let card = try bench.cardState()
        let records = try journal.records(after: 0, limit: 100).map(\.record).filter { $0.kind == kind }
        switch moving {
        case .tap:
            #expect(card.balance == initial.balance - 300, "\(context): charged exactly once")
            #expect(card.offlineCounter == initial.offlineCounter + 1, "\(context)")
            #expect(CompositeRecord(card.compositeRecord, profile: profile)?.tappedOn == false, "\(context): tapped off")
            #expect(records.first.map { tacVerifies($0) } == true, "\(context): TAC verifies")
        case .load:
            #expect(card.balance == initial.balance + 2000, "\(context): credited exactly once")
            #expect(card.onlineCounter == initial.onlineCounter + 1, "\(context)")
            #expect(records.first.map(loadTACVerifies) == true, "\(context): TAC verifies")
        }
        #expect(records.count == 1, "\(context): one record, got \(records.count)")
        #expect(try journal.openEntries().isEmpty, "\(context): nothing left open")
        #expect(try journal.verifyWholeChain() >= 1, "\(context)")
        let recovered = records.first?.recovered == true
        return cardName.padding(toLength: 7, withPad: " ", startingAt: 0) + "\(moving)".padding(toLength: 13, withPad: " ", startingAt: 0)
            + "\(tear)".padding(toLength: 40, withPad: " ", startingAt: 0) + first.padding(toLength: 32, withPad: " ", startingAt: 0)
            + "\(settled)\(recovered ? " (record recovered)" : ""): moved once, 1 record"
    }

    /// One tap or load in-process; for a load the test plays the platform (MAC2 under the test MLK).
    static func attempt(_ moving: Moving, _ bench: SimulatedTerminal, _ journal: Journal) async throws -> PurchaseOutcome {
        switch moving {
        case .tap:
            return try bench.terminal.tap(time: journal.transactionTime(), timeoutMilliseconds: 10_000, journal: journal,
                                          pricing: { (400, { tapRules.charge($0, card: $1, now: $2) }) })
        case .load:
            return try await bench.terminal.load(amount: 2000, pin: pin, time: journal.transactionTime(), timeoutMilliseconds: 10_000,
                                                 journal: journal) { authorisation in issuerMAC2(authorisation) }
        }
    }

    static func issuerMAC2(_ authorisation: LoadAuthorisation) -> [UInt8] {
        let p = authorisation.pending
        let dlk = PurseCrypto.diversify(algorithmID: p.algorithmID, master: PurseCardState.TestMasters.mlk, factor: p.cardNumber.bytes)
        let session = PurseCrypto.sessionKey(algorithmID: p.algorithmID, cardKey: dlk,
                                             input: p.cardRandom + BigEndian.bytes(UInt64(p.counter), width: 2) + [0x80, 0x00])
        return PurseCrypto.sessionMAC(algorithmID: p.algorithmID, sessionKey: session,
                                      BigEndian.bytes(UInt64(p.amount), width: 4) + [0x02] + p.terminalNumber + p.time.bytes)
    }

    /// The platform's check of a load record's TAC (purse contract §6.5).
    static func loadTACVerifies(_ record: ClearingRecord) -> Bool {
        guard let alg = record.algID.map(UInt8.init), let card = [UInt8](hex: record.cardNo), let time = [UInt8](hex: record.time),
              let tac = record.tac.flatMap({ [UInt8](hex: $0) })
        else { return false }
        let dtk = PurseCrypto.diversify(algorithmID: alg, master: PurseCardState.TestMasters.mtk, factor: card)
        let balanceAfter = BigEndian.bytes(UInt64(record.balanceBefore + record.amount), width: 4)
        let counter = BigEndian.bytes(UInt64(record.cardCounter), width: 2), amount = BigEndian.bytes(UInt64(record.amount), width: 4)
        let terminal: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
        let data: [UInt8] = balanceAfter + counter + amount + [0x02] + terminal + time  // in parts: Swift 6.2 gives up on the whole
        return PurseCrypto.tac(algorithmID: alg, dtk: dtk, data) == tac
    }
}
