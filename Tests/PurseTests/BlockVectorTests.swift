import Hex
import ISO7816
@testable import Purse
import Testing
import TestFixtures

/// The terminal side of the block vectors: a hot-listed card gets exactly the
/// transcript's GET CHALLENGE, PSAM `80 1A`/`80 FA` and APPLICATION BLOCK.
@Suite struct BlockVectorTests {
    struct HotList: PurchaseJournal {
        func uncertainDebit(of card: CardNumber) -> PendingDebit? { nil }
        func settle(_ debit: PendingDebit, _ result: RecoveryResult) throws {}
        func recordPending(_ debit: PendingDebit) throws -> Int64? {
            Issue.record("a hot-listed card must never reach DEBIT")
            return nil
        }
        func recordComplete(_ receipt: PurchaseReceipt) throws { Issue.record("a hot-listed card must never reach DEBIT") }
        func isHotListed(_ card: CardNumber) -> Bool { true }
    }

    @Test(arguments: Vectors.load("block.json").filter { $0.kind == "app-block" })
    func hotListedCardIsBlocked(_ v: VectorCase) throws {
        let profile = v.string("card_no").hasSuffix("1") ? "CU" : "TU"
        let balance: [UInt8] = [0x00, 0x00, 0x13, 0x88, 0x90, 0x00]
        let player = TranscriptPlayer(PurchaseVectorTests.selection(for: profile)
            + [.init(to: "card", command: [0x80, 0x5C, 0x00, 0x02, 0x04], response: balance)]
            + TranscriptPlayer(v.transcript()).steps)
        let psam = PSAM(channel: APDUChannel(player.link("psam")), terminalNumber: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66], purchaseKeyIndex: 1)
        let permanent = v.string("p2") == "01"
        let flow = PurchaseFlow(journal: HotList(), permanentBlock: permanent)
        let outcome = flow.run(card: APDUChannel(player.link("card")), psam: psam, amount: 100, time: BCDDateTime(text: "20261122140305")!)
        #expect(player.mismatches.isEmpty, "\(player.mismatches)")
        #expect(player.finished)
        guard case .blocked(let block) = outcome else { Issue.record("\(outcome)"); return }
        #expect(block.result == (permanent ? .permanent : .temporary))
        #expect(block.balance == 5000)
        #expect(block.reason == (permanent ? "blocked_permanent" : "blocked_temporary"))
    }

    @Test func refusedBlockIsRecordedAsFailedAndTheCardStillRefused() {
        let v = Vectors.named("card1-block-temporary", in: "block.json")
        let steps = PurchaseVectorTests.selection(for: "CU")
            + [.init(to: "card", command: [0x80, 0x5C, 0x00, 0x02, 0x04], response: [0x6A, 0x81])]  // no balance: fine
            + TranscriptPlayer(v.transcript()).steps.dropLast()
            + [.init(to: "card", command: v.bytes("command"), response: [0x69, 0x88])]
        let player = TranscriptPlayer(steps)
        let psam = PSAM(channel: APDUChannel(player.link("psam")), terminalNumber: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66], purchaseKeyIndex: 1)
        let outcome = PurchaseFlow(journal: HotList()).run(card: APDUChannel(player.link("card")), psam: psam, amount: 100,
                                                            time: BCDDateTime(text: "20261122140305")!)
        guard case .blocked(let block) = outcome else { Issue.record("\(outcome)"); return }
        #expect(block.reason == "block_failed")
        #expect(block.balance == nil)
    }
}
