import Hex
import IssuerCrypto

/// Bytes stored as upper-case hex in the state files, so a person can read them.
@propertyWrapper
public struct HexBytes: Codable, Equatable, Sendable {
    public var wrappedValue: [UInt8]
    public init(wrappedValue: [UInt8]) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = [UInt8](hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not hex: \(text)"))
        }
        wrappedValue = bytes
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.hex)
    }
}

/// Everything a simulated purse card keeps across power cycles: its
/// personalisation, keys, balances, history and the card options of §12.
/// This is the state file tests read back.
public struct PurseCardState: Codable, Equatable, Sendable {
    public enum Profile: String, Codable, Sendable { case cu = "CU", tu = "TU" }
    public enum BlockState: String, Codable, Sendable { case none, temporary, permanent }

    public struct Keys: Codable, Equatable, Sendable {
        @HexBytes public var dpk: [UInt8]
        @HexBytes public var dlk: [UInt8]
        @HexBytes public var dtk: [UInt8]
        @HexBytes public var dabk: [UInt8]
        @HexBytes public var dauk: [UInt8]
    }

    /// What GET TRANSACTION PROVE can prove for one counter (§10).
    public struct Proof: Codable, Equatable, Sendable {
        public var type: UInt8
        public var counterAfter: UInt16
        @HexBytes public var mac: [UInt8]
        @HexBytes public var tac: [UInt8]
    }

    public var profile: Profile
    @HexBytes public var ef15: [UInt8]
    public var appVersion: UInt8
    public var algorithmID: UInt8
    public var keyVersion: UInt8
    public var keyIndex: UInt8
    public var keys: Keys

    public var balance: UInt32
    public var overdraft: UInt32
    public var offlineCounter: UInt16
    public var onlineCounter: UInt16
    @HexBytes public var pin: [UInt8]
    public var pinTriesLeft: Int
    /// EF 0x18, newest first, at most 10 records of 23 bytes.
    public var history: [HexBytes]
    @HexBytes public var compositeRecord: [UInt8]
    public var offlineProof: Proof?
    public var onlineProof: Proof?
    public var block: BlockState

    // Card options (§12)
    public var answerForm: AnswerForm
    public var fciHasApplicationInfo: Bool
    /// Extra bytes after the AID in the FCI's DF name.
    @HexBytes public var dfNameSuffix: [UInt8]
    /// Security authentication code (CU only); nil = none.
    public var authenticationCode: HexBytes?
    /// The SW for "no code": `6A88`, `6A86` or `6D00`.
    public var noAuthenticationCodeStatus: UInt16
    public var emptyHistoryAs6A83: Bool
    public var blockedSelectCarriesFCI: Bool
    public var permanentBlockAnsweredAtSelect: Bool

    public var aid: [UInt8] {
        profile == .cu ? [0xA0, 0x00, 0x00, 0x00, 0x03, 0x86, 0x98, 0x07, 0x01]
                       : [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05]
    }
    public var cardNumber: [UInt8] { Array(ef15[12..<20]) }
    /// Composite record's SFI and identifier.
    public var compositeFile: (sfi: UInt8, id: UInt8, length: Int) {
        profile == .cu ? (0x17, 0x03, 48) : (0x1A, 0x01, 128)
    }
}

extension PurseCardState {
    /// The test issuer's masters (contract §7): first 16 bytes of SHA-256 of the label.
    public enum TestMasters {
        public static let mpk = PurseCrypto.masterKey(label: "posd-test MPK purchase 01")
        public static let mlk = PurseCrypto.masterKey(label: "posd-test MLK load 01")
        public static let mtk = PurseCrypto.masterKey(label: "posd-test MTK tac 01")
        public static let mabk = PurseCrypto.masterKey(label: "posd-test MABK app-block 01")
        public static let mauk = PurseCrypto.masterKey(label: "posd-test MAUK app-unblock 01")
    }

    /// Personalises a card the way the test issuer does: keys diversified from
    /// the test masters with the card number.
    public static func personalise(profile: Profile, ef15: [UInt8], appVersion: UInt8, algorithmID: UInt8,
                                   balance: UInt32, offlineCounter: UInt16, onlineCounter: UInt16) -> PurseCardState {
        let number = Array(ef15[12..<20])
        let keys = Keys(
            dpk: PurseCrypto.diversify(algorithmID: algorithmID, master: TestMasters.mpk, factor: number),
            dlk: PurseCrypto.diversify(algorithmID: algorithmID, master: TestMasters.mlk, factor: number),
            dtk: PurseCrypto.diversify(algorithmID: algorithmID, master: TestMasters.mtk, factor: number),
            dabk: PurseCrypto.diversify(algorithmID: PurseCrypto.algorithm3DES, master: TestMasters.mabk, factor: number),
            dauk: PurseCrypto.diversify(algorithmID: PurseCrypto.algorithm3DES, master: TestMasters.mauk, factor: number))
        let (_, id, length) = profile == .cu ? (0x17, UInt8(0x03), 48) : (0x1A, UInt8(0x01), 128)
        return PurseCardState(
            profile: profile, ef15: ef15, appVersion: appVersion, algorithmID: algorithmID, keyVersion: 0x01,
            keyIndex: 0x01, keys: keys, balance: balance, overdraft: 0, offlineCounter: offlineCounter,
            onlineCounter: onlineCounter, pin: [0x12, 0x34, 0x56], pinTriesLeft: 3, history: [],
            compositeRecord: [id, UInt8(length - 2)] + [UInt8](repeating: 0, count: length - 2),
            offlineProof: nil, onlineProof: nil, block: .none, answerForm: .direct,
            fciHasApplicationInfo: true, dfNameSuffix: [], authenticationCode: nil,
            noAuthenticationCodeStatus: 0x6A88, emptyHistoryAs6A83: false, blockedSelectCarriesFCI: true,
            permanentBlockAnsweredAtSelect: true)
    }

    /// Test card 1: CU, 3DES, balance 100.00, FCI with `9F0C`, no auth code.
    public static func testCard1() -> PurseCardState {
        personalise(profile: .cu, ef15: [UInt8](hex: "888810000000000001010000888800000000000120250101203512310000")!,
                    appVersion: 0x01, algorithmID: 0x00, balance: 10000, offlineCounter: 5, onlineCounter: 2)
    }

    /// Test card 2: TU, SM4, balance 50.00, FCI without `9F0C`.
    public static func testCard2() -> PurseCardState {
        var card = personalise(profile: .tu, ef15: [UInt8](hex: "88881000FFFFFFFF02010310888800000000000220250101203512310000")!,
                               appVersion: 0x02, algorithmID: 0x04, balance: 5000, offlineCounter: 0x11, onlineCounter: 0)
        card.fciHasApplicationInfo = false
        return card
    }
}
