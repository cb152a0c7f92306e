import Hex

/// The two electronic-purse application profiles of the contract (§3).
public enum PurseProfile: String, Sendable, CaseIterable, Codable {
    /// "City union" cards.
    case cu = "CU"
    /// T-Union cards.
    case tu = "TU"

    public var aid: [UInt8] {
        switch self {
        case .cu: [0xA0, 0x00, 0x00, 0x00, 0x03, 0x86, 0x98, 0x07, 0x01]
        case .tu: [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05]
        }
    }

    /// CU cards may hold a security authentication code (§4.4); TU cards are never asked.
    public var asksAuthenticationCode: Bool { self == .cu }

    /// The composite (transit) record: short file id, record id and length.
    public var compositeRecord: (sfi: UInt8, id: UInt8, length: Int) {
        switch self {
        case .cu: (0x17, 0x03, 48)
        case .tu: (0x1A, 0x01, 128)
        }
    }
}

/// An 8-byte card number, written as 16 hex digits (the record's `card_no`).
public struct CardNumber: Hashable, Sendable, CustomStringConvertible, Codable {
    public let bytes: [UInt8]

    public init?(_ bytes: [UInt8]) {
        guard bytes.count == 8 else { return nil }
        self.bytes = bytes
    }

    public init?(hex: String) {
        guard let bytes = [UInt8](hex: hex) else { return nil }
        self.init(bytes)
    }

    public var description: String { bytes.hex }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let number = CardNumber(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "card number is 16 hex digits"))
        }
        self = number
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The public application data of EF 0x15 (30 bytes, §3), as the checks need it.
public struct PurseApplicationInfo: Equatable, Sendable {
    public static let length = 30

    public let raw: [UInt8]
    public let cardNumber: CardNumber
    public let startDate: BCDDate
    public let expiryDate: BCDDate

    /// Byte 8: the CU enabled flag (`00` = not enabled). TU cards keep their
    /// application type there; the contract applies the same check to both.
    public var isEnabled: Bool { raw[8] != 0x00 }

    public init?(_ raw: [UInt8]) {
        guard raw.count == Self.length,
              let number = CardNumber(Array(raw[12..<20])),
              let start = BCDDate(Array(raw[20..<24])),
              let expiry = BCDDate(Array(raw[24..<28]))
        else { return nil }
        self.raw = raw
        self.cardNumber = number
        self.startDate = start
        self.expiryDate = expiry
    }
}

/// What SELECT returned: the FCI's DF name and, when the card put it there,
/// the EF 0x15 contents (`9F0C`), which saves a READ BINARY.
public struct FileControlInformation: Sendable {
    public let dfName: [UInt8]
    public let applicationInfo: [UInt8]?

    /// `6F { 84 <DF name>  A5 { 9F08 <version>  [9F0C <EF 0x15>] } }`.
    public init?(_ bytes: [UInt8]) {
        guard let outer = TLV.parse(bytes[...]), outer.count == 1, outer[0].tag == 0x6F,
              let inner = TLV.parse(outer[0].value),
              let name = TLV.first(0x84, in: inner)
        else { return nil }
        dfName = Array(name)
        if let proprietary = TLV.first(0xA5, in: inner) {
            guard let items = TLV.parse(proprietary) else { return nil }
            applicationInfo = TLV.first(0x9F0C, in: items).map(Array.init)
        } else {
            applicationInfo = nil
        }
    }
}
