import Hex
import ISO7816
@testable import Purse
import Testing
import TestFixtures

/// The terminal side of the contract's vectors: the purchase flow must send
/// exactly the transcript's commands, in order, and read its answers right.
@Suite struct PurchaseVectorTests {
    static let psamBoot = Vectors.named("test-psam-boot", in: "profiles.json")

    static func startPSAM(_ player: TranscriptPlayer) throws -> PSAM {
        try PSAM.start(APDUChannel(player.link("psam")))
    }

    /// SELECT (and EF 0x15) steps for a test card, CU tried first.
    static func selection(for profile: String) -> [TranscriptPlayer.Step] {
        if profile == "CU" {
            let v = Vectors.named("card1-cu-select", in: "profiles.json")
            return [.init(to: "card", command: v.bytes("select_cmd"), response: v.bytes("select_resp"))]
        }
        let v = Vectors.named("card2-tu-select", in: "profiles.json")
        return [
            .init(to: "card", command: [UInt8](hex: "00A4040009A00000000386980701")!, response: [0x6A, 0x82]),
            .init(to: "card", command: v.bytes("select_cmd"), response: v.bytes("select_resp")),
            .init(to: "card", command: v.bytes("read_ef15_cmd"), response: v.bytes("read_ef15_resp")),
        ]
    }

    @Test func psamStartUpFollowsTheBootTranscript() throws {
        let player = TranscriptPlayer(Self.psamBoot.transcript())
        let psam = try Self.startPSAM(player)
        #expect(player.mismatches.isEmpty)
        #expect(player.finished)
        #expect(psam.terminalNumber == Self.psamBoot.bytes("terminal_no"))
        #expect(psam.purchaseKeyIndex == 0x01)
    }

    @Test func psamWithTerminalNumberOnlyInTheMF() throws {
        let player = TranscriptPlayer([
            .init(to: "psam", command: [UInt8](hex: "00A40000021001")!, response: [0x90, 0x00]),
            .init(to: "psam", command: [UInt8](hex: "00B0960006")!, response: [0x6A, 0x82]),
            .init(to: "psam", command: [UInt8](hex: "00A40000023F00")!, response: [0x90, 0x00]),
            .init(to: "psam", command: [UInt8](hex: "00B0960006")!, response: [UInt8](hex: "1122334455669000")!),
            .init(to: "psam", command: [UInt8](hex: "00A40000021001")!, response: [UInt8](hex: "6F0484021001 9000".replacingOccurrences(of: " ", with: ""))!),
            .init(to: "psam", command: [UInt8](hex: "00B0970001")!, response: [0x01, 0x90, 0x00]),
        ])
        let psam = try Self.startPSAM(player)
        #expect(player.mismatches.isEmpty && player.finished)
        #expect(psam.terminalNumber.hex == "112233445566")
    }

    @Test(arguments: Vectors.load("purchase.json"))
    func purchaseFollowsTheTranscript(_ vector: VectorCase) throws {
        let boot = TranscriptPlayer(Self.psamBoot.transcript())
        let psam = try Self.startPSAM(boot)
        let player = TranscriptPlayer(Self.selection(for: vector.string("profile"))
                                      + TranscriptPlayer(vector.transcript()).steps)
        var pendingSeen: PendingDebit?
        let flow = PurchaseFlow(recordPending: { pendingSeen = $0 })
        let outcome = flow.run(card: APDUChannel(player.link("card")), psam: psam.over(APDUChannel(player.link("psam"))),
                               amount: UInt32(BigEndian.uint(vector.bytes("amount"))),
                               time: BCDDateTime(vector.bytes("datetime"))!)
        #expect(player.mismatches.isEmpty, "\(player.mismatches)")
        #expect(player.finished)
        guard case .approved(let receipt) = outcome else {
            Issue.record("expected approval, got \(outcome)")
            return
        }
        let fields = vector.object("clearing_record_fields")
        #expect(receipt.debit.cardNumber.description == fields["card_no"] as? String)
        #expect(Int(receipt.debit.amount) == fields["amount"] as? Int)
        #expect(Int(receipt.debit.balanceBefore) == fields["balance_before"] as? Int)
        #expect(Int(receipt.debit.counter) == fields["card_counter"] as? Int)
        #expect(Int(receipt.debit.terminalSequence) == fields["terminal_seq"] as? Int)
        #expect(Int(receipt.debit.keyVersion) == fields["key_version"] as? Int)
        #expect(Int(receipt.debit.algorithmID) == fields["alg_id"] as? Int)
        #expect(receipt.debit.time.description == fields["time"] as? String)
        #expect(receipt.tac.hex == fields["tac"] as? String)
        #expect(receipt.mac2 == vector.bytes("mac2"))
        #expect(receipt.mac2Verified)
        #expect(UInt64(receipt.balanceAfter) == BigEndian.uint(vector.bytes("balance_after")))
        #expect(pendingSeen == receipt.debit, "the PENDING entry is the debit that was sent")
    }

    @Test(arguments: Vectors.load("profiles.json").filter { $0.kind == "profile" })
    func applicationInfoAndCardNumber(_ vector: VectorCase) throws {
        let fci = try #require(FileControlInformation(Array(vector.bytes("select_resp").dropLast(2))))
        #expect(fci.dfName == vector.bytes("aid"))
        #expect((fci.applicationInfo != nil) == (vector.inputs["fci_has_9f0c"] as? Bool))
        let info = try #require(PurseApplicationInfo(vector.bytes("ef15")))
        #expect(info.cardNumber.description == vector.string("card_no"))
        #expect(PurseCommand.select(aid: vector.bytes("aid")).bytes == vector.bytes("select_cmd"))
    }
}
