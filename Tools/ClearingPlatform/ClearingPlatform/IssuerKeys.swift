import ClearingAPI
import Hex
import IssuerCrypto

/// The test issuer's side of the purse crypto (purse contract §6, §7): the
/// platform verifies TACs under MTK and answers loads under MLK.
enum IssuerKeys {
    static let mtk = PurseCrypto.masterKey(label: "posd-test MTK tac 01")
    static let mlk = PurseCrypto.masterKey(label: "posd-test MLK load 01")

    /// Cards whose algorithm the issuer knows (the test cards); others are
    /// tried under both algorithms, as the contract allows for loads.
    static let registry: [String: UInt8] = ["8888000000000001": PurseCrypto.algorithm3DES, "8888000000000002": PurseCrypto.algorithmSM4]

    /// The TAC a genuine card computes for this record.
    static func expectedTAC(_ record: WireRecord, terminalID: [UInt8]) -> [UInt8]? {
        guard let card = [UInt8](hex: record.cardNo), let alg = record.algID.map(UInt8.init),
              alg == PurseCrypto.algorithm3DES || alg == PurseCrypto.algorithmSM4,
              let time = [UInt8](hex: record.time), time.count == 7
        else { return nil }
        let amount = BigEndian.bytes(UInt64(record.amount), width: 4)
        let data: [UInt8]
        if record.kind == "load" {
            data = BigEndian.bytes(UInt64(record.balanceBefore + record.amount), width: 4) + BigEndian.bytes(UInt64(record.cardCounter), width: 2)
                + amount + [0x02] + terminalID + time
        } else {
            guard let type = record.txType, let seq = record.terminalSeq else { return nil }
            data = amount + [UInt8(type)] + terminalID + BigEndian.bytes(UInt64(seq), width: 4) + time
        }
        let dtk = PurseCrypto.diversify(algorithmID: alg, master: mtk, factor: card)
        return PurseCrypto.tac(algorithmID: alg, dtk: dtk, data)
    }

    /// The load session key under which `mac1` verifies, with its algorithm; nil if none does.
    static func loadSession(_ request: LoadRequest, terminalID: [UInt8]) -> (alg: UInt8, key: [UInt8])? {
        guard let card = [UInt8](hex: request.cardNo), let random = [UInt8](hex: request.random), random.count == 4,
              let mac1 = [UInt8](hex: request.mac1)
        else { return nil }
        let candidates = registry[request.cardNo].map { [$0] } ?? [PurseCrypto.algorithm3DES, PurseCrypto.algorithmSM4]
        let data = BigEndian.bytes(UInt64(request.balanceBefore), width: 4) + BigEndian.bytes(UInt64(request.amount), width: 4)
            + [0x02] + terminalID
        for alg in candidates {
            let dlk = PurseCrypto.diversify(algorithmID: alg, master: mlk, factor: card)
            let session = PurseCrypto.loadSessionKey(algorithmID: alg, dlk: dlk, random: random, onlineCounter: UInt16(truncatingIfNeeded: request.cardCounter))
            if PurseCrypto.sessionMAC(algorithmID: alg, sessionKey: session, data) == mac1 { return (alg, session) }
        }
        return nil
    }
}
