import Fares
import Foundation
import Hex
import Journal
import PCSC
import Purse
import Terminal
import Testing
import TestSupport
import VirtualCards

/// Bus journeys through pcscd and vpcd on both test cards (3DES CU with its
/// 48-byte record, SM4 TU with its 128-byte record): every tap is a CAPP
/// purchase; the card's balance and composite record are read back from its
/// state file, and every record's TAC is recomputed under the test MTK.
extension PurchaseEndToEndTests {
    static let route = Route(line: 0x12, stops: ["Depot", "Market", "Station", "Harbour"],
                             fares: [[0, 200, 300, 400], [200, 0, 200, 300], [300, 200, 0, 200], [400, 300, 200, 0]])

    static func rules(_ mode: FareRules.Mode, stop: UInt16, line: UInt16 = 0x12) -> FareRules {
        FareRules(mode: mode, line: line, stop: stop, terminal: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
                  transferWindowSeconds: 5400, transferDiscount: 100)
    }

    /// One tap at `time`, then the card lifted and presented again for the next.
    static func tap(_ bench: SimulatedTerminal, _ journal: Journal, _ rules: FareRules, at time: String) throws -> PurchaseOutcome {
        let outcome = try bench.terminal.tap(time: BCDDateTime(text: "20261122" + time)!, timeoutMilliseconds: 10_000, journal: journal,
                                             pricing: { (400, { rules.charge($0, card: $1, now: $2) }) })
        try bench.represent()
        return outcome
    }

    static func charged(_ outcome: PurchaseOutcome) -> UInt32? {
        if case .approved(let receipt) = outcome { return receipt.debit.amount }
        return nil
    }

    @Test(arguments: ["card1", "card2"])
    func distanceJourneysWithDoubleTapTransferAndMissingTapOff(_ cardName: String) throws {
        let initial: PurseCardState = cardName == "card1" ? .testCard1() : .testCard2()
        let bench = try SimulatedTerminal(card: initial)
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        let distance = FareRules.Mode.distance(Self.route)

        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(distance, stop: 1), at: "080000")) == 0, "tap on")
        #expect(Self.declineReason(try Self.tap(bench, journal, Self.rules(distance, stop: 1), at: "080030")) == .alreadyCheckedIn)
        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(distance, stop: 3), at: "082000")) == 300, "tap off 1 → 3")
        var card = try bench.cardState()
        let record = try #require(CompositeRecord(card.compositeRecord, profile: cardName == "card1" ? .cu : .tu))
        #expect(!record.tappedOn && record.entryStop == 1 && record.lastPaidTime?.description == "20261122082000")
        #expect(card.balance == initial.balance - 300)

        // A transfer: boarding within 90 minutes of the last paid tap takes 1.00 off.
        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(distance, stop: 0), at: "090000")) == 0)
        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(distance, stop: 2), at: "091500")) == 200, "3.00 less the transfer")

        // Tapped on, never tapped off; the next tap on another line charges the maximum and opens a new journey.
        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(distance, stop: 2), at: "120000")) == 0)
        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(distance, stop: 1, line: 0x34), at: "180000")) == 400, "penalty")
        card = try bench.cardState()
        #expect(card.balance == initial.balance - 300 - 200 - 400)
        #expect(try #require(CompositeRecord(card.compositeRecord, profile: cardName == "card1" ? .cu : .tu)).tappedOn)

        let records = try journal.records(after: 0, limit: 20).map(\.record)
        #expect(records.map(\.kind) == [.cappPurchase, .declined, .cappPurchase, .cappPurchase, .cappPurchase, .cappPurchase, .cappPurchase])
        #expect(records.filter { $0.kind == .cappPurchase }.allSatisfy { tacVerifies($0) }, "every TAC verifies")
        #expect(records.filter { $0.kind == .cappPurchase }.allSatisfy { $0.txType == 9 })
        #expect(records[1].reason == "already_checked_in")
        #expect(card.offlineCounter == initial.offlineCounter + 6, "six debits, the double tap none")
    }

    @Test func flatFareAndALockedRecord() throws {
        var initial = PurseCardState.testCard1()
        let bench = try SimulatedTerminal(card: initial)
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(.flat(200), stop: 0), at: "080000")) == 200)
        #expect(Self.declineReason(try Self.tap(bench, journal, Self.rules(.flat(200), stop: 0), at: "080100")) == .alreadyCheckedIn)
        #expect(try bench.cardState().balance == initial.balance - 200)
        try bench.close()

        // Another operator's journey on the card: never written, refused with a clear reason.
        initial.compositeRecord[2] = 0x01
        let locked = try SimulatedTerminal(card: initial)
        defer { try? locked.close() }
        let lockedJournal = Journal(directory: locked.directory.appendingPathComponent("data"))
        let outcome = try Self.tap(locked, lockedJournal, Self.rules(.flat(200), stop: 0), at: "080000")
        #expect(Self.declineReason(outcome) == .transitRecordLocked)
        #expect(try locked.cardState().compositeRecord == initial.compositeRecord)
        #expect(try locked.cardState().balance == initial.balance)
    }

    /// DEBIT of a tap-off torn after its commit: the next tap of that card
    /// completes it from the card's proof (never charging again).
    @Test func tornTapIsRecoveredOnTheNextTap() throws {
        let initial = PurseCardState.testCard2()
        let bench = try SimulatedTerminal(card: initial)
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        let distance = FareRules.Mode.distance(Self.route)
        #expect(Self.charged(try Self.tap(bench, journal, Self.rules(distance, stop: 0), at: "080000")) == 0)
        bench.card.withCard { $0.armTear(.debit, nth: 1, .afterCommit) }
        let torn = try bench.terminal.tap(time: BCDDateTime(text: "20261122083000")!, timeoutMilliseconds: 10_000, journal: journal,
                                          pricing: { (400, { Self.rules(distance, stop: 3).charge($0, card: $1, now: $2) }) })
        guard case .uncertain = torn else {
            Issue.record("expected uncertain, got \(torn)")
            return
        }
        bench.card.waitUntilRemoved()
        try PCSCContext().waitForRemoval(from: bench.terminal.configuration.cardReader, timeoutMilliseconds: 10_000)
        bench.card.insert()
        let again = try Self.tap(bench, journal, Self.rules(distance, stop: 3), at: "083010")
        guard case .recovered(let receipt) = again else {
            Issue.record("expected recovery, got \(again)")
            return
        }
        #expect(receipt.debit.amount == 400)
        let card = try bench.cardState()
        #expect(card.balance == initial.balance - 400, "charged once")
        let records = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.cappPurchase, .cappPurchase])
        #expect(records.last?.recovered == true && tacVerifies(records.last!))
        #expect(try journal.openEntries().isEmpty)
    }
}
