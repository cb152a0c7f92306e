import Hex
import ISO7816

/// What the purchase flow needs from the journal. Every read that can fail
/// throws: on a money path "could not read" is never taken for "nothing there".
public protocol PurchaseJournal {
    /// The UNCERTAIN debit of this card, if one is open (§9.3).
    func uncertainDebit(of card: CardNumber) throws -> PendingDebit?
    /// Makes how recovery settled `debit` durable, before the card is served further.
    func settle(_ debit: PendingDebit, _ result: RecoveryResult) throws
    /// Makes the PENDING entry durable and returns its id (nil: a seam with no
    /// journal). Called after MAC1 and before the first DEBIT byte; if it
    /// throws, the purchase is declined with the card untouched.
    func recordPending(_ debit: PendingDebit) throws -> Int64?
    /// Makes the finished transaction durable (COMPLETE, §9.2) as soon as the
    /// card has answered, before anything else is sent (the PSAM's MAC2 check
    /// included): a terminal that dies after this holds a deliverable record.
    func recordComplete(_ receipt: PurchaseReceipt) throws
    /// The hot list, kept in the journal's database.
    func isHotListed(_ card: CardNumber) throws -> Bool
}

extension PurchaseJournal {
    /// Recovery (§9.3) of this card's UNCERTAIN debit or load, before anything
    /// else is done with it: the committed transaction's receipt, or nil when
    /// there was none or it provably did not happen (serve the card afresh).
    func recoverTornEntry(card: CardSession, number: CardNumber) throws(Decline) -> PurchaseReceipt? {
        let found: PendingDebit?
        do { found = try uncertainDebit(of: number) } catch {
            throw Decline(.journalUnavailable, "open entries unreadable: \(error)", cardNumber: number)
        }
        guard let torn = found else { return nil }
        let result = Recovery(card: card, debit: torn).run()
        do {
            try settle(torn, result)
        } catch {
            throw Decline(.journalUnavailable, "\(error)", cardNumber: number)
        }
        switch result {
        case .committed(let receipt): return receipt
        case .notCommitted: return nil
        case .unresolved(let why): throw Decline(.recoveryUnresolved, why, cardNumber: number)
        case .noAnswer(let why): throw Decline(.cardRemoved, why, cardNumber: number)
        }
    }

    /// Whether the card is hot-listed; a hot list that cannot be read refuses the card.
    func checkHotList(_ number: CardNumber) throws(Decline) -> Bool {
        do { return try isHotListed(number) } catch {
            throw Decline(.journalUnavailable, "hot list unreadable: \(error)", cardNumber: number)
        }
    }
}

/// A journal seam with write-ahead only and nothing to recover (benchmarks, tests).
public struct WriteAheadOnly: PurchaseJournal {
    let record: (PendingDebit) throws -> Void
    public init(_ record: @escaping (PendingDebit) throws -> Void) { self.record = record }
    public func uncertainDebit(of card: CardNumber) -> PendingDebit? { nil }
    public func settle(_ debit: PendingDebit, _ result: RecoveryResult) throws {}
    public func recordPending(_ debit: PendingDebit) throws -> Int64? {
        try record(debit)
        return nil
    }
    public func recordComplete(_ receipt: PurchaseReceipt) throws {}
    public func isHotListed(_ card: CardNumber) -> Bool { false }
}

/// One offline purchase (contract §8.1, state machine §9.1), with recovery of
/// an earlier torn debit first (§9.3), written against card and PSAM channels
/// and the journal seam only: no clock, no files, no reader.
public struct PurchaseFlow {
    /// AIDs to try, in order (the contract's default is CU then TU).
    public var profiles: [PurseProfile]
    public var journal: any PurchaseJournal
    /// When set, any other card is refused: the cashier asked for the card of
    /// an interrupted sale to be presented again.
    public var requiredCard: CardNumber?
    /// APPLICATION BLOCK of a hot-listed card: temporary (P2 `00`, the default) or permanent.
    public var permanentBlock: Bool

    public init(profiles: [PurseProfile] = PurseProfile.allCases, journal: any PurchaseJournal, requiredCard: CardNumber? = nil,
                permanentBlock: Bool = false) {
        self.profiles = profiles
        self.journal = journal
        self.requiredCard = requiredCard
        self.permanentBlock = permanentBlock
    }

    public init(profiles: [PurseProfile] = PurseProfile.allCases, recordPending: @escaping (PendingDebit) throws -> Void) {
        self.init(profiles: profiles, journal: WriteAheadOnly(recordPending))
    }

    public func run(card: APDUChannel, psam: PSAM, amount: UInt32, time: BCDDateTime) -> PurchaseOutcome {
        // The card refuses nothing for 0 with P1 01, but the contract forbids sending it.
        guard amount > 0 else { return .declined(Decline(.invalidAmount, "a purchase amount must be above zero")) }
        do {
            return try purchase(card: card, psam: psam, time: time) { _, _ throws(Decline) in (amount, nil) }
        } catch {
            return .declined(error)
        }
    }

    /// A transit tap (§8.2, CAPP purchase, type `09`): the composite record is
    /// read, `fare` decides the amount (0 for a tap-on) and the record to
    /// write, and the debit carries it.
    public func runTransit(card: APDUChannel, psam: PSAM, time: BCDDateTime, fare: TransitFare) -> PurchaseOutcome {
        do {
            return try purchase(card: card, psam: psam, time: time) { card, purse throws(Decline) in
                let number = purse.info.cardNumber
                let answer = try card.send(PurseCommand.readComposite(purse.profile))
                guard answer.status.isSuccess, let current = CompositeRecord(answer.data, profile: purse.profile) else {
                    throw Decline(.transitRecordInvalid, "composite record answered \(answer)", cardNumber: number)
                }
                guard !current.locked else {
                    throw Decline(.transitRecordLocked, "composite record locked by another operator", cardNumber: number)
                }
                let charge = try fare(current, number, time).get()
                return (charge.amount, charge.record.bytes(for: purse.profile))
            }
        } catch {
            return .declined(error)
        }
    }

    /// One debit: a purchase when `plan` gives no composite record, else a CAPP purchase writing it.
    private func purchase(card channel: APDUChannel, psam: PSAM, time: BCDDateTime,
                          plan: (CardSession, SelectedPurse) throws(Decline) -> (amount: UInt32, composite: [UInt8]?))
        throws(Decline) -> PurchaseOutcome
    {
        var card = CardSession(channel: channel)
        let purse = try card.selectPurse(profiles)
        let number = purse.info.cardNumber
        card.cardNumber = number
        if let required = requiredCard, required != number {
            throw Decline(.wrongCard, "present card \(required), not \(number)", cardNumber: number)
        }
        if let recovered = try journal.recoverTornEntry(card: card, number: number) { return .recovered(recovered) }
        try purse.checkValidity(on: time.date)
        if try journal.checkHotList(number) {
            return .blocked(CardBlocking(card: card, psam: psam, permanent: permanentBlock).run())
        }

        let (amount, composite) = try plan(card, purse)
        let code = purse.profile.asksAuthenticationCode ? try card.authenticationCode() : nil

        let initialize = PurseCommand.initializeForPurchase(
            p1: composite == nil ? 0x01 : 0x03, keyIndex: psam.purchaseKeyIndex, amount: amount, terminal: psam.terminalNumber)
        let session = try InitializeForPurchase(card.expect(initialize, length: InitializeForPurchase.length), amount: amount, card: card)
        do {
            return try debit(card: card, channel: channel, psam: psam, purse: purse, session: session, amount: amount,
                             composite: composite, code: code, time: time)
        } catch {
            // A decline after INITIALIZE carries the balance and counter the card gave.
            var decline = error
            decline.learned = decline.learned ?? CardFigures(balance: session.balance, counter: session.counter)
            throw decline
        }
    }

    /// From MAC1 to the card's answer to DEBIT (§8.1 steps 4–8).
    private func debit(card: CardSession, channel: APDUChannel, psam: PSAM, purse: SelectedPurse, session: InitializeForPurchase,
                       amount: UInt32, composite: [UInt8]?, code: [UInt8]?, time: BCDDateTime) throws(Decline) -> PurchaseOutcome {

        let transactionType: UInt8 = composite == nil ? 0x06 : 0x09
        let mac1Input = session.random + BigEndian.bytes(UInt64(session.counter), width: 2)
            + BigEndian.bytes(UInt64(amount), width: 4) + [transactionType] + time.bytes
            + [session.keyVersion, session.algorithmID] + purse.info.cardNumber.bytes
        let (sequence, mac1): (UInt32, [UInt8])
        do {
            (sequence, mac1) = try psam.mac1(for: mac1Input, authenticationCode: code)
        } catch {
            var decline = error
            decline.cardNumber = purse.info.cardNumber
            throw decline
        }

        if let composite {
            // The card only caches the record; it is written by the DEBIT that follows.
            let update = try card.send(PurseCommand.updateCompositeCache(purse.profile, record: composite))
            guard update.status.isSuccess else {
                throw Decline(CardSession.reason(for: update.status), "UPDATE CAPP DATA CACHE answered \(update.status)",
                              cardNumber: purse.info.cardNumber)
            }
        }

        var pending = PendingDebit(
            cardNumber: purse.info.cardNumber, profile: purse.profile, transactionType: transactionType,
            amount: amount, balanceBefore: session.balance, counter: session.counter,
            keyVersion: session.keyVersion, algorithmID: session.algorithmID, cardRandom: session.random,
            terminalSequence: sequence, time: time, terminalNumber: psam.terminalNumber, composite: composite)
        do {
            pending.journalEntry = try journal.recordPending(pending)
        } catch {
            throw Decline(.journalUnavailable, "\(error)", cardNumber: purse.info.cardNumber)
        }

        // From here on a lost answer means UNCERTAIN, never "declined".
        let answer: ResponseAPDU
        do {
            answer = try channel.send(PurseCommand.debit(sequence: sequence, time: time, mac1: mac1))
        } catch {
            return .uncertain(pending, detail: "DEBIT: \(error)")
        }
        switch (answer.status.value, answer.data.count) {
        case (0x9000, 8):
            var receipt = PurchaseReceipt(debit: pending, tac: Array(answer.data[0..<4]), mac2: Array(answer.data[4..<8]), mac2Verified: false)
            // COMPLETE durable before 80 72 (§8.1 steps 7 → 8): the debit stands whatever the PSAM says.
            do {
                try journal.recordComplete(receipt)
            } catch {
                return .uncertain(pending, detail: "approved by the card but not journalled (\(error))")
            }
            receipt.mac2Verified = psam.verifyMAC2(receipt.mac2)
            return .approved(receipt)
        case (0x9302, 0):
            throw Decline(.mac1Rejected, "DEBIT answered 9302", cardNumber: purse.info.cardNumber, pending: pending)
        default:
            return .uncertain(pending, detail: "DEBIT answered \(answer)")
        }
    }
}

/// The 15-byte answer to INITIALIZE FOR PURCHASE / CAPP PURCHASE (§4.2).
struct InitializeForPurchase {
    static let length = 15
    let balance: UInt32
    let counter: UInt16
    let keyVersion: UInt8
    let algorithmID: UInt8
    let random: [UInt8]

    /// Overdraft limit (3 bytes): the card may take `amount` up to balance + overdraft.
    let overdraft: UInt32

    /// Refuses figures a card that accepted `amount` cannot have given (it
    /// should have answered `9401` or `9402`): nothing a card says may lead
    /// to an impossible balance after the debit.
    init(_ data: [UInt8], amount: UInt32, card: CardSession) throws(Decline) {
        balance = UInt32(BigEndian.uint(data[0..<4]))
        counter = UInt16(BigEndian.uint(data[4..<6]))
        overdraft = UInt32(BigEndian.uint(data[6..<9]))
        keyVersion = data[9]
        algorithmID = data[10]
        random = Array(data[11..<15])
        let figures = CardFigures(balance: balance, counter: counter)
        guard algorithmID == 0x00 || algorithmID == 0x04 else {
            throw Decline(.unsupportedAlgorithm, "algorithm id \(algorithmID.hexByte)", cardNumber: card.cardNumber, learned: figures)
        }
        guard UInt64(amount) <= UInt64(balance) + UInt64(overdraft) else {
            throw Decline(.cardError, "INITIALIZE accepted \(amount) with balance \(balance) and overdraft \(overdraft)",
                          cardNumber: card.cardNumber, learned: figures)
        }
        guard counter < 0xFFFF else {
            throw Decline(.cardError, "INITIALIZE accepted with its offline counter exhausted", cardNumber: card.cardNumber, learned: figures)
        }
    }
}

extension CardSession {
    /// GET DATA for the security authentication code (§4.4): the code, or nil
    /// when the card says it has none (`6A88`, `6A86`, `6D00`).
    func authenticationCode() throws(Decline) -> [UInt8]? {
        let answer = try send(PurseCommand.getAuthenticationCode)
        switch answer.status.value {
        case 0x9000 where answer.data.count == 9: return answer.data
        case 0x6A88, 0x6A86, 0x6D00: return nil
        default: throw Decline(.cardError, "GET DATA answered \(answer)", cardNumber: cardNumber)
        }
    }
}
