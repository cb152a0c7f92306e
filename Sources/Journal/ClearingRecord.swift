import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hex

/// One journal record exactly as the clearing platform receives it
/// (`POST /v1/records`). Optional fields are left out when absent: the
/// canonical bytes have no placeholders.
public struct ClearingRecord: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case purchase
        case cappPurchase = "capp_purchase"
        case load
        case declined
        case cardBlocked = "card_blocked"
    }

    public var seq: Int
    public var kind: Kind
    /// `YYYYMMDDhhmmss`, the date and time given to the card.
    public var time: String
    public var cardNo: String
    public var amount: Int
    public var balanceBefore: Int
    public var cardCounter: Int
    public var terminalSeq: Int?
    public var txType: Int?
    public var keyVersion: Int?
    public var algID: Int?
    public var tac: String?
    public var recovered: Bool?
    public var reason: String?
    public var prevHash: String

    enum CodingKeys: String, CodingKey {
        case seq, kind, time, amount, tac, recovered, reason
        case cardNo = "card_no", balanceBefore = "balance_before", cardCounter = "card_counter"
        case terminalSeq = "terminal_seq", txType = "tx_type", keyVersion = "key_version", algID = "alg_id"
        case prevHash = "prev_hash"
    }

    /// The record's content before it is chained: everything but `seq` and `prev_hash`.
    public init(kind: Kind, time: String, cardNo: String, amount: Int, balanceBefore: Int, cardCounter: Int,
                terminalSeq: Int? = nil, txType: Int? = nil, keyVersion: Int? = nil, algID: Int? = nil,
                tac: String? = nil, recovered: Bool? = nil, reason: String? = nil) {
        self.seq = 0
        self.kind = kind
        self.time = time
        self.cardNo = cardNo
        self.amount = amount
        self.balanceBefore = balanceBefore
        self.cardCounter = cardCounter
        self.terminalSeq = terminalSeq
        self.txType = txType
        self.keyVersion = keyVersion
        self.algID = algID
        self.tac = tac
        self.recovered = recovered
        self.reason = reason
        self.prevHash = ""
    }

    /// Canonical bytes (clearing contract): JSON without `hash`, keys sorted by
    /// code point, no whitespace, plain integers, nothing for absent fields.
    public var canonicalBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a string of ASCII, an integer or a boolean: encoding cannot fail.
        return Array(try! encoder.encode(self))
    }

    /// SHA-256 over the 32 raw bytes of `prev_hash` followed by the canonical bytes.
    public static func hash(prevHash: String, canonical: [UInt8]) -> String {
        var digest = SHA256()
        digest.update(data: [UInt8](hex: prevHash) ?? [])
        digest.update(data: canonical)
        return Array(digest.finalize()).hex
    }

    /// The `prev_hash` of record 1.
    public static let genesisHash = String(repeating: "0", count: 64)
}
