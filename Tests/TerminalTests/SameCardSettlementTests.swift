import Hex
import ISO7816
import Journal
@testable import Purse
import Terminal
import Testing
import TestSupport

/// The journalled sale's glue over scripted readers, without pcscd: a torn
/// DEBIT settled on the same card, at once when the card is still in the
/// field, and through a second tear. The card answers are the contract's
/// vector for card 1 (2.50, N = 5, T = 0x101); the journal is a real one.
@Suite struct SameCardSettlementTests {
    static let v = Vectors.named("card1-purchase-3des", in: "purchase.json")
    static let select = Vectors.named("card1-cu-select", in: "profiles.json").bytes("select_resp")
    static let ok: [UInt8] = [0x90, 0x00]
    static let noCode: [UInt8] = [0x6A, 0x88]
    static let time = BCDDateTime(v.bytes("datetime"))!

    /// Readers whose card is a list of presentations: each connect takes the
    /// next (nil: the card is not there to connect to); a removal wait always
    /// succeeds, and is counted.
    final class ScriptedReaders: Readers {
        let psam: PSAM
        func ready() -> ReaderFault? { nil }
        var presentations: [[[UInt8]]?]
        private(set) var cards: [ScriptedLink] = []
        private(set) var removalWaits = 0

        init(_ presentations: [[[UInt8]]?], psamAnswers: [[UInt8]]) {
            self.presentations = presentations
            psam = PSAM(channel: APDUChannel(ScriptedLink(psamAnswers)), terminalNumber: v.bytes("terminal_no"), purchaseKeyIndex: 1)
        }

        func connectCard(timeoutMilliseconds: UInt32) throws(Terminal.SetupError) -> APDUChannel {
            guard !presentations.isEmpty, let answers = presentations.removeFirst() else {
                throw .readerMissing("no card", available: [])
            }
            let card = ScriptedLink(answers)  // past its script, it answers as a card gone
            cards.append(card)
            return APDUChannel(card)
        }

        func waitForRemoval(timeoutMilliseconds: UInt32) throws(Terminal.SetupError) {
            removalWaits += 1
            if presentations.isEmpty { throw .readerMissing("no card", available: []) }
        }
    }

    static func sale(_ readers: ScriptedReaders, _ journal: Journal, asked: inout [CardNumber]) throws -> PurchaseOutcome {
        var calls: [CardNumber] = []
        let outcome = try Terminal(.init(cardReader: "card", psamReader: "psam"), readers: readers).purchase(amount: 250, time: time, timeoutMilliseconds: 1000, journal: journal,
                                                                      recoveryWaitMilliseconds: 10_000) { calls.append($0) }
        asked = calls
        return outcome
    }

    /// DEBIT's answer is lost with the card still in the field: recovery runs
    /// on it at once (no removal wait, nobody asked), and this sale is approved.
    @Test func aTornDebitIsRecoveredAtOnceOnTheCardInTheField() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        let readers = ScriptedReaders([[Self.select, Self.noCode, Self.v.bytes("init_resp")], [Self.select, Self.v.bytes("prove_resp")]],
                                      psamAnswers: [Self.v.bytes("psam_8070_resp")])
        var asked: [CardNumber] = []
        let outcome = try Self.sale(readers, journal, asked: &asked)
        guard case .approved(let receipt) = outcome else { Issue.record("\(outcome)"); return }
        #expect(receipt.recovered && receipt.tac == Self.v.bytes("tac"))
        #expect(asked.isEmpty && readers.removalWaits == 0, "settled on the card in the field")
        #expect(readers.cards.last?.sent.map(\.hex) == ["00A4040009A00000000386980701", "805A0006020006"])
        let records = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.purchase] && records.first?.recovered == true)
        #expect(try journal.openEntries().isEmpty)
    }

    /// Torn before its commit, the card gone, presented again: recovery proves
    /// it did not happen and the sale is made afresh; that DEBIT tears too. The
    /// terminal asks once and keeps waiting; the next presentation settles it.
    @Test func aSecondTearKeepsTheTerminalAsking() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        let untouched: [UInt8] = [0x00, 0x00, 0x27, 0x10, 0x90, 0x00]  // balance 100.00, as before
        let older = [UInt8](hex: "0005000000000000640611223344556620261121090000")! + Self.ok  // not our record
        let readers = ScriptedReaders([
            [Self.select, Self.noCode, Self.v.bytes("init_resp")],  // DEBIT torn
            nil,  // gone: nothing to connect to
            [Self.select, [0x94, 0x06], untouched, older, Self.noCode, Self.v.bytes("init_resp")],  // not committed; fresh DEBIT torn
            nil,
            [Self.select, Self.v.bytes("prove_resp")],  // committed
        ], psamAnswers: [Self.v.bytes("psam_8070_resp"), Self.v.bytes("psam_8070_resp")])
        var asked: [CardNumber] = []
        let outcome = try Self.sale(readers, journal, asked: &asked)
        guard case .approved(let receipt) = outcome else { Issue.record("\(outcome)"); return }
        #expect(receipt.recovered)
        #expect(asked.count == 1, "asked once, then kept waiting")
        let records = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.declined, .purchase])
        #expect(records.first?.reason == "debit_not_committed" && records.last?.recovered == true)
        #expect(try journal.openEntries().isEmpty)
    }

    /// The sale is dated when the card has come, not when the wait for it
    /// began: a terminal waiting seconds for a card (and following the
    /// platform's clock meanwhile) must not date the debit early (before the
    /// fix, a validator's tap moments after a clock correction carried the
    /// old time and was refused as a double tap).
    @Test func theSaleIsDatedWhenTheCardComes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        let readers = ScriptedReaders([[Self.select, Self.noCode]], psamAnswers: [])
        var connectsBeforeTheTime: Int?
        func time() -> BCDDateTime {
            connectsBeforeTheTime = readers.cards.count
            return Self.time
        }
        _ = try Terminal(.init(cardReader: "card", psamReader: "psam"), readers: readers).purchase(amount: 250, time: time(), timeoutMilliseconds: 1000, journal: journal)
        #expect(connectsBeforeTheTime == 1, "the time was read after the card connected")
    }
}
