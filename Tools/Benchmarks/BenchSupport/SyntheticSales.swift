import Foundation
import Hex
import IssuerCrypto
import Journal

/// Records as genuine cards would have made them at one terminal: purchases
/// on test card 1 (3DES) and card 2 (SM4) with TACs under the test issuer's
/// MTK, and every tenth a decline. For delivery tests and benchmarks, where
/// the reference platform verifies every TAC.
public enum SyntheticSales {
    static let cards: [(number: String, alg: UInt8)] = [("8888000000000001", PurseCrypto.algorithm3DES),
                                                         ("8888000000000002", PurseCrypto.algorithmSM4)]
    static let mtk = PurseCrypto.masterKey(label: "posd-test MTK tac 01")

    public static func records(_ count: Int, startingAt start: Int = 0, terminalID: String) -> [ClearingRecord] {
        let terminal = [UInt8](hex: terminalID) ?? []
        let dtks = cards.map { PurseCrypto.diversify(algorithmID: $0.alg, master: mtk, factor: [UInt8](hex: $0.number)!) }
        return (start..<(start + count)).map { i in
            let card = cards[i % 2]
            let time = String(format: "20261122%02d%02d%02d", 8 + (i / 3600) % 12, (i / 60) % 60, i % 60)
            if i % 10 == 9 {
                return ClearingRecord(kind: .declined, time: time, cardNo: card.number, amount: 0, balanceBefore: 50, cardCounter: i % 65536,
                                      reason: "insufficient_balance")
            }
            let amount = 100 + i % 50, terminalSeq = 0x100 + i
            let data = BigEndian.bytes(UInt64(amount), width: 4) + [0x06] + terminal + BigEndian.bytes(UInt64(terminalSeq), width: 4)
                + [UInt8](hex: time)!
            return ClearingRecord(kind: .purchase, time: time, cardNo: card.number, amount: amount, balanceBefore: 100_000,
                                  cardCounter: i % 65536, terminalSeq: terminalSeq, txType: 6, keyVersion: 1, algID: Int(card.alg),
                                  tac: PurseCrypto.tac(algorithmID: card.alg, dtk: dtks[i % 2], data).hex)
        }
    }

    /// Sum of the approved debits among `records`.
    public static func debitTotal(_ records: [ClearingRecord]) -> Int {
        records.filter { $0.kind == .purchase }.map(\.amount).reduce(0, +)
    }
}
