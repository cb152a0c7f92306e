import BoardDefinition
import Foundation
import Journal
import Purse
import Terminal
import Testing
import VirtualCards

/// Hot-listed cards through pcscd: refused before INITIALIZE, blocked with the
/// PSAM's MAC, journalled as `card_blocked` whether or not the block worked.
extension PurchaseEndToEndTests {
    @Test(arguments: [false, true])
    func hotListedCardIsBlockedAndJournalled(_ eightByteMAC: Bool) throws {
        var psam = PSAMState.testPSAM()
        psam.blockMACLength = eightByteMAC ? 8 : 4
        let bench = try SimulatedTerminal(card: .testCard2(), psam: psam)
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        try journal.applyHotList(version: 7, full: true, add: ["8888000000000002"], remove: [])

        let outcome = try bench.terminal.purchase(amount: 100, time: .now(), timeoutMilliseconds: 10_000, journal: journal)
        guard case .blocked(let block) = outcome else { Issue.record("\(outcome)"); return }
        #expect(block.result == .temporary)
        let card = try bench.cardState()
        #expect(card.block == .temporary)
        #expect(card.balance == 5000 && card.offlineCounter == 0x11, "nothing debited")
        let record = try journal.records(after: 0, limit: 10).last?.record
        #expect(record?.kind == .cardBlocked)
        #expect(record?.reason == "blocked_temporary")
        #expect(record?.balanceBefore == 5000)

        // Presented again: the blocked application refuses at SELECT.
        let again = try bench.terminal.purchase(amount: 100, time: .now(), timeoutMilliseconds: 10_000, journal: journal)
        guard case .declined(let decline) = again else { Issue.record("\(again)"); return }
        #expect(decline.reason == .appBlocked)
    }

    /// A balance query needs no PSAM, except for a hot-listed card: blocked and journalled too.
    @Test func balanceQueryBlocksAHotListedCard() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        try journal.applyHotList(version: 2, full: true, add: ["8888000000000001"], remove: [])
        let result = try bench.terminal.balance(timeoutMilliseconds: 10_000, journal: journal)
        guard case .failure(let decline) = result else { Issue.record("\(result)"); return }
        #expect(decline.reason == .hotListed)
        #expect(try bench.cardState().block == .temporary)
        #expect(try journal.records(after: 0, limit: 10).map(\.record.kind) == [.cardBlocked])
    }

    @Test func blockRefusedByTheCardIsJournalledAsFailed() throws {
        var psam = PSAMState.testPSAM()
        psam.mabk = [UInt8](repeating: 0x11, count: 16)  // a PSAM with the wrong block master: the card answers 6988
        let bench = try SimulatedTerminal(card: .testCard1(), psam: psam)
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        try journal.applyHotList(version: 1, full: true, add: ["8888000000000001"], remove: [])

        let outcome = try bench.terminal.purchase(amount: 100, time: .now(), timeoutMilliseconds: 10_000, journal: journal)
        guard case .blocked(let block) = outcome else { Issue.record("\(outcome)"); return }
        #expect(block.reason == "block_failed")
        #expect(try bench.cardState().block == PurseCardState.BlockState.none)
        #expect(try bench.cardState().balance == 10000)
        #expect(try journal.records(after: 0, limit: 10).last?.record.reason == "block_failed")
    }
}

extension PurchaseEndToEndTests {
    /// Past an offline limit the terminal refuses before touching the card.
    @Test func offlineLimitRefusesBeforeTheCard() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        let limited = try Terminal(.init(cardReader: BoardDefinition.benchReaders.card, psamReader: BoardDefinition.benchReaders.psam, offlineLimits: OfflineLimits(maxRecords: 100, maxAmount: 300, maxHours: 168)))
        guard case .approved = try limited.purchase(amount: 200, time: .now(), timeoutMilliseconds: 10_000, journal: journal) else {
            Issue.record("the first sale fits the limit")
            return
        }
        let card = try bench.cardState(), sequence = try bench.psamState().sequence
        let outcome = try limited.purchase(amount: 101, time: .now(), timeoutMilliseconds: 10_000, journal: journal)
        guard case .declined(let decline) = outcome else { Issue.record("\(outcome)"); return }
        #expect(decline.reason == .offlineLimit)
        #expect(try bench.cardState() == card, "the card was not touched")
        #expect(try bench.psamState().sequence == sequence)
        guard case .approved = try limited.purchase(amount: 100, time: .now(), timeoutMilliseconds: 10_000, journal: journal) else {
            Issue.record("a sale up to the limit is still taken")
            return
        }
    }
}
