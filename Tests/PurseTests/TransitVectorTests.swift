import Hex
import ISO7816
@testable import Purse
import Testing
import TestFixtures

/// The CAPP vectors on the terminal side: a transit tap sends exactly the
/// transcript's commands (composite record read, INITIALIZE FOR CAPP, MAC1
/// with type 09, UPDATE CAPP DATA CACHE, DEBIT, MAC2 check) and parses the
/// record the card held.
@Suite struct TransitVectorTests {
    @Test(arguments: Vectors.load("capp.json"))
    func transitTapFollowsTheTranscript(_ vector: VectorCase) throws {
        let psam = try PurchaseVectorTests.startPSAM(TranscriptPlayer(PurchaseVectorTests.psamBoot.transcript()))
        let profile = PurseProfile(rawValue: vector.string("profile"))!
        let player = TranscriptPlayer(PurchaseVectorTests.selection(for: vector.string("profile"))
                                      + TranscriptPlayer(vector.transcript()).steps)
        let before = try #require(CompositeRecord(vector.bytes("record_before"), profile: profile))
        let after = try #require(CompositeRecord(vector.bytes("record_after"), profile: profile))
        #expect(after.bytes(for: profile) == vector.bytes("record_after"), "the record round-trips byte for byte")
        let amount = UInt32(BigEndian.uint(vector.bytes("amount")))
        var pendingSeen: PendingDebit?
        let flow = PurchaseFlow(recordPending: { pendingSeen = $0 })
        let outcome = flow.runTransit(card: APDUChannel(player.link("card")), psam: psam.over(APDUChannel(player.link("psam"))),
                                      time: BCDDateTime(vector.bytes("datetime"))!) { current, _, _ in
            #expect(current == before)
            return .success(TransitCharge(amount: amount, record: after))
        }
        #expect(player.mismatches.isEmpty, "\(player.mismatches)")
        #expect(player.finished)
        guard case .approved(let receipt) = outcome else {
            Issue.record("expected approval, got \(outcome)")
            return
        }
        #expect(receipt.debit.transactionType == 0x09)
        #expect(receipt.tac.hex == vector.string("tac"))
        #expect(pendingSeen?.composite == vector.bytes("record_after"))
        #expect(UInt64(receipt.balanceAfter) == BigEndian.uint(vector.bytes("balance_after")))
    }

    @Test func lockedAndMalformedRecordsAreRefusedBeforeAnyWrite() throws {
        let psam = try PurchaseVectorTests.startPSAM(TranscriptPlayer(PurchaseVectorTests.psamBoot.transcript()))
        let cases: [([UInt8], DeclineReason)] = [
            (CompositeRecord(locked: true).bytes(for: .cu) + [0x90, 0x00], .transitRecordLocked),
            ([0x6A, 0x83], .transitRecordInvalid),
            ([UInt8](repeating: 0, count: 48) + [0x90, 0x00], .transitRecordInvalid),  // wrong tag
            (Array(CompositeRecord().bytes(for: .cu).prefix(40)) + [0x90, 0x00], .transitRecordInvalid),  // wrong size
        ]
        for (answer, reason) in cases {
            let player = TranscriptPlayer(PurchaseVectorTests.selection(for: "CU") + [
                .init(to: "card", command: [UInt8](hex: "00B203B830")!, response: answer),
            ])
            let outcome = PurchaseFlow(recordPending: { _ in Issue.record("nothing may be written") })
                .runTransit(card: APDUChannel(player.link("card")), psam: psam, time: BCDDateTime(text: "20261122173000")!) { _, _, _ in
                    Issue.record("no fare for an unusable record")
                    return .failure(Decline(.cardError, ""))
                }
            guard case .declined(let decline) = outcome else {
                Issue.record("expected a decline, got \(outcome)")
                continue
            }
            #expect(decline.reason == reason)
            #expect(player.finished)
        }
    }
}
