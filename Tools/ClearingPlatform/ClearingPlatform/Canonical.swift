import ClearingAPI
import Foundation

/// A record's fields as the platform parses them, independently of the
/// terminal's code: flat JSON objects of strings, integers and booleans.
enum Scalar: Codable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .boolean(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .boolean(let value): try container.encode(value)
        }
    }

    /// The contract's canonical text of this value.
    var canonical: String {
        switch self {
        case .integer(let value): String(value)
        case .boolean(let value): value ? "true" : "false"
        case .string(let value) where value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }):
            "\"\(value)\""  // nothing to escape: the common case (hex, digits, names)
        case .string(let value):
            // A string alone encodes as a JSON fragment: quotes and escapes as JSON has them.
            String(decoding: (try? Self.encoder.encode(value)) ?? Data(), as: UTF8.self)
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}

enum Canonical {
    /// Canonical bytes of a record (clearing API): every field but `hash`,
    /// keys sorted by code point, no whitespace.
    static func bytes(_ fields: [String: Scalar]) -> [UInt8] {
        let body = fields.filter { $0.key != "hash" }
            .sorted { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
            .map { "\(Scalar.string($0.key).canonical):\($0.value.canonical)" }
            .joined(separator: ",")
        return Array("{\(body)}".utf8)
    }
}

extension WireRecord {
    /// The record from its parsed fields; nil when a field has the wrong type
    /// or a required one is missing.
    init?(_ fields: [String: Scalar]) {
        func string(_ key: String) -> String? { if case .string(let v)? = fields[key] { v } else { nil } }
        func integer(_ key: String) -> Int? { if case .integer(let v)? = fields[key] { v } else { nil } }
        func optional<T>(_ key: String, _ get: (String) -> T?) -> T?? {
            fields[key] == nil ? .some(nil) : get(key).map { .some($0) }
        }
        guard let seq = integer("seq"), let kind = string("kind"), let time = string("time"), let cardNo = string("card_no"),
              let amount = integer("amount"), let balanceBefore = integer("balance_before"), let cardCounter = integer("card_counter"),
              let prevHash = string("prev_hash"), let hash = string("hash"),
              let terminalSeq = optional("terminal_seq", integer), let txType = optional("tx_type", integer),
              let keyVersion = optional("key_version", integer), let algID = optional("alg_id", integer),
              let tac = optional("tac", string), let reason = optional("reason", string),
              let recovered = optional("recovered", { if case .boolean(let v)? = fields[$0] { v } else { nil } })
        else { return nil }
        self.init(seq: seq, kind: kind, time: time, cardNo: cardNo, amount: amount, balanceBefore: balanceBefore, cardCounter: cardCounter,
                  terminalSeq: terminalSeq, txType: txType, keyVersion: keyVersion, algID: algID, tac: tac, recovered: recovered,
                  reason: reason, prevHash: prevHash, hash: hash)
    }
}
