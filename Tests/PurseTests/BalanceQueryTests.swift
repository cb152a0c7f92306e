import Hex
import ISO7816
import Purse
import Testing
import TestFixtures

@Suite struct BalanceQueryTests {
    static let select = Vectors.named("card1-cu-select", in: "profiles.json").bytes("select_resp")
    static let purchase = Vectors.named("card1-purchase-3des", in: "purchase.json").bytes("record_0x18")
    static let load = Vectors.named("card1-load-3des", in: "load.json").bytes("record_0x18")
    static let ok: [UInt8] = [0x90, 0x00]

    /// Both empty-slot forms of §4.2 end the history.
    @Test(arguments: [[0x6A, 0x83], [UInt8](repeating: 0, count: 23) + [0x90, 0x00]] as [[UInt8]])
    func historyStopsAtAnEmptySlot(_ empty: [UInt8]) throws {
        let link = ScriptedLink([Self.select, [0x00, 0x00, 0x27, 0x10] + Self.ok, Self.load + Self.ok, Self.purchase + Self.ok, empty])
        let report = try BalanceQuery().run(card: APDUChannel(link)).get()
        #expect(report.balance == 10000)
        #expect(report.cardNumber.description == "8888000000000001")
        #expect(report.history.count == 2)
        #expect(report.history[0].isLoad && !report.history[1].isLoad)
        #expect(report.history[1].amount == 250 && report.history[1].counter == 6)
        #expect(link.sent.map(\.hex) == ["00A4040009A00000000386980701", "805C000204", "00B201C417", "00B202C417", "00B203C417"])
    }

    @Test func tenRecordsAtMost() throws {
        let link = ScriptedLink([Self.select, [0, 0, 0, 1] + Self.ok] + Array(repeating: Self.purchase + Self.ok, count: 12))
        let report = try BalanceQuery().run(card: APDUChannel(link)).get()
        #expect(report.history.count == 10)
        #expect(link.sent.count == 12)
    }

    @Test func malformedRecordIsACardError() {
        let link = ScriptedLink([Self.select, [0, 0, 0, 1] + Self.ok, [1, 2, 3] + Self.ok])
        guard case .failure(let decline) = BalanceQuery().run(card: APDUChannel(link)) else { Issue.record("accepted"); return }
        #expect(decline.reason == .cardError)
    }
}
