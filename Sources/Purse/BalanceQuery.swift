import Hex
import ISO7816

/// One line of the card's last-10 history (cyclic EF 0x18, 23 bytes, §4.2).
public struct HistoryEntry: Equatable, Sendable {
    /// Counter after the transaction (offline for 06/09, online for 02).
    public var counter: UInt16
    public var amount: UInt32
    public var transactionType: UInt8
    public var terminalNumber: [UInt8]
    public var time: [UInt8]

    /// A load (type `02`) adds money; purchases (`06`, `09`) take it.
    public var isLoad: Bool { transactionType == 0x02 }

    /// `raw` is one 23-byte record: the caller checks the size (a card's answer may be anything).
    public init(_ raw: [UInt8]) {
        counter = UInt16(BigEndian.uint(raw[0..<2]))
        amount = UInt32(BigEndian.uint(raw[5..<9]))
        transactionType = raw[9]
        terminalNumber = Array(raw[10..<16])
        time = Array(raw[16..<23])
    }
}

/// What a balance query shows: no PSAM, no journal (§8.4).
public struct BalanceReport: Equatable, Sendable {
    public var cardNumber: CardNumber
    public var profile: PurseProfile
    public var balance: UInt32
    /// Newest first, at most ten.
    public var history: [HistoryEntry]
}

public struct BalanceQuery {
    public var profiles: [PurseProfile]
    /// The hot list: a balance query needs no PSAM and no journal, except for
    /// a listed card, which is blocked (§8.4, §8.5). A hot list that cannot
    /// be read refuses the card rather than treat it as unlisted.
    public var isHotListed: (CardNumber) throws -> Bool

    public init(profiles: [PurseProfile] = PurseProfile.allCases, isHotListed: @escaping (CardNumber) throws -> Bool = { _ in false }) {
        self.profiles = profiles
        self.isHotListed = isHotListed
    }

    /// GET BALANCE, then READ RECORD 1...10 until `6A83` or an all-zero record
    /// (cards may mark empty slots either way). A hot-listed card is refused,
    /// and blocked when a PSAM is given (`blocked` hears how, for the journal).
    public func run(card channel: APDUChannel, psam: PSAM? = nil, blocked: (CardBlock) -> Void = { _ in }) -> Result<BalanceReport, Decline> {
        Result { () throws(Decline) -> BalanceReport in
            var card = CardSession(channel: channel)
            let purse = try card.selectPurse(profiles)
            card.cardNumber = purse.info.cardNumber
            let listed: Bool
            do { listed = try isHotListed(purse.info.cardNumber) } catch {
                throw Decline(.journalUnavailable, "hot list unreadable: \(error)", cardNumber: purse.info.cardNumber)
            }
            if listed {
                if let psam { blocked(CardBlocking(card: card, psam: psam, permanent: false).run()) }
                throw Decline(.hotListed, "card on the hot list", cardNumber: purse.info.cardNumber)
            }
            let balance = UInt32(BigEndian.uint(try card.expect(PurseCommand.getBalance, length: 4)))
            var history: [HistoryEntry] = []
            for n in UInt8(1)...10 {
                let answer = try card.send(PurseCommand.readHistory(n))
                if answer.status.value == 0x6A83 { break }
                guard answer.status.isSuccess, answer.data.count == 23 else {
                    throw Decline(.cardError, "READ RECORD \(n) answered \(answer)", cardNumber: purse.info.cardNumber)
                }
                if answer.data.allSatisfy({ $0 == 0 }) { break }
                history.append(HistoryEntry(answer.data))
            }
            return BalanceReport(cardNumber: purse.info.cardNumber, profile: purse.profile, balance: balance, history: history)
        }
    }
}
