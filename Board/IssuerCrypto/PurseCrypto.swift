/// The purse key and MAC schedule (contract §6), built on `Cipher`. Used by
/// the card and PSAM simulators and the reference issuer side; the terminal
/// never sees any of it.
public enum PurseCrypto {
    public static let algorithm3DES: UInt8 = 0x00
    public static let algorithmSM4: UInt8 = 0x04

    /// ISO 9797-1 padding method 2: `80`, then `00` to a whole block.
    public static func pad(_ data: [UInt8], blockSize: Int) -> [UInt8] {
        var out = data + [0x80]
        while out.count % blockSize != 0 { out.append(0) }
        return out
    }

    /// CBC-MAC over already padded data; returns the last block.
    static func cbcLastBlock(_ algorithm: Cipher.Algorithm, key: [UInt8], padded: [UInt8], iv: [UInt8]) -> [UInt8] {
        var chain = iv
        for start in stride(from: 0, to: padded.count, by: algorithm.blockSize) {
            let block = zip(chain, padded[start..<(start + algorithm.blockSize)]).map { $0 ^ $1 }
            chain = Cipher.encrypt(algorithm, key: key, block)
        }
        return chain
    }

    /// DES-MAC (8-byte key) or SM4-MAC (16-byte key): padded CBC, IV zero, first 4 bytes.
    public static func mac(_ algorithm: Cipher.Algorithm, key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let padded = pad(data, blockSize: algorithm.blockSize)
        return Array(cbcLastBlock(algorithm, key: key, padded: padded, iv: [UInt8](repeating: 0, count: algorithm.blockSize)).prefix(4))
    }

    /// Retail MAC (ISO 9797-1 algorithm 3) over data that is already padded,
    /// as the PSAM's `80 FA` receives it. Returns all 8 bytes.
    public static func retailMAC(key: [UInt8], padded: [UInt8], iv: [UInt8]) -> [UInt8] {
        let left = Array(key[0..<8]), right = Array(key[8..<16])
        let last = cbcLastBlock(.des, key: left, padded: padded, iv: iv)
        return Cipher.encrypt(.des, key: left, Cipher.decrypt(.des, key: right, last))
    }

    /// Retail MAC of a secure-messaging command header: IV = challenge ‖ `00000000`.
    public static func secureCommandMAC(key: [UInt8], header: [UInt8], challenge: [UInt8]) -> [UInt8] {
        Array(retailMAC(key: key, padded: pad(header, blockSize: 8), iv: challenge + [0, 0, 0, 0]).prefix(4))
    }

    /// Test key set: first 16 bytes of SHA-256 of the label.
    public static func masterKey(label: String) -> [UInt8] {
        Array(Cipher.sha256(Array(label.utf8)).prefix(16))
    }

    /// One-level diversification with factor F (the card number).
    public static func diversify(algorithmID: UInt8, master: [UInt8], factor: [UInt8]) -> [UInt8] {
        let complement = factor.map { ~$0 }
        if algorithmID == algorithmSM4 {
            return Cipher.encrypt(.sm4, key: master, factor + complement)
        }
        return Cipher.encrypt(.tdes, key: master, factor) + Cipher.encrypt(.tdes, key: master, complement)
    }

    /// Purchase or load session key from the 8-byte session input S.
    public static func sessionKey(algorithmID: UInt8, cardKey: [UInt8], input: [UInt8]) -> [UInt8] {
        if algorithmID == algorithmSM4 {
            return Cipher.encrypt(.sm4, key: cardKey, input + input.map { ~$0 })
        }
        return Cipher.encrypt(.tdes, key: cardKey, input)
    }

    /// The load session key (§7): the card's random ‖ its online counter ‖ `8000` under DLK.
    public static func loadSessionKey(algorithmID: UInt8, dlk: [UInt8], random: [UInt8], onlineCounter: UInt16) -> [UInt8] {
        sessionKey(algorithmID: algorithmID, cardKey: dlk, input: random + [UInt8(onlineCounter >> 8), UInt8(onlineCounter & 0xFF), 0x80, 0x00])
    }

    /// MAC2 for CREDIT FOR LOAD: amount ‖ `02` ‖ terminal ‖ date and time, under the load session key.
    public static func loadMAC2(algorithmID: UInt8, sessionKey: [UInt8], amount: UInt32, terminal: [UInt8], time: [UInt8]) -> [UInt8] {
        sessionMAC(algorithmID: algorithmID, sessionKey: sessionKey,
                   [UInt8(amount >> 24), UInt8(amount >> 16 & 0xFF), UInt8(amount >> 8 & 0xFF), UInt8(amount & 0xFF), 0x02] + terminal + time)
    }

    /// MAC1 / MAC2 under a session key.
    public static func sessionMAC(algorithmID: UInt8, sessionKey: [UInt8], _ data: [UInt8]) -> [UInt8] {
        mac(algorithmID == algorithmSM4 ? .sm4 : .des, key: sessionKey, data)
    }

    /// The 3DES path's TAC key: DTK left half XOR right half.
    public static func tacKey3DES(_ dtk: [UInt8]) -> [UInt8] {
        zip(dtk[0..<8], dtk[8..<16]).map { $0 ^ $1 }
    }

    public static func tac(algorithmID: UInt8, dtk: [UInt8], _ data: [UInt8]) -> [UInt8] {
        algorithmID == algorithmSM4 ? mac(.sm4, key: dtk, data) : mac(.des, key: tacKey3DES(dtk), data)
    }
}
