import Hex
import ISO7816

/// One offline purchase (contract §8.1, state machine §9.1), written against
/// card and PSAM channels only: no clock, no files, no reader.
public struct PurchaseFlow {
    /// AIDs to try, in order (the contract's default is CU then TU).
    public var profiles: [PurseProfile]
    /// Makes the PENDING entry durable. Called after MAC1 and before the first
    /// DEBIT byte; if it throws, the purchase is declined with the card untouched.
    public var recordPending: (PendingDebit) throws -> Void

    public init(profiles: [PurseProfile] = PurseProfile.allCases,
                recordPending: @escaping (PendingDebit) throws -> Void) {
        self.profiles = profiles
        self.recordPending = recordPending
    }

    public func run(card: APDUChannel, psam: PSAM, amount: UInt32, time: BCDDateTime) -> PurchaseOutcome {
        do {
            return try purchase(card: card, psam: psam, amount: amount, time: time)
        } catch {
            return .declined(error)
        }
    }

    private func purchase(card channel: APDUChannel, psam: PSAM, amount: UInt32, time: BCDDateTime) throws(Decline) -> PurchaseOutcome {
        // The card refuses nothing for 0 with P1 01, but the contract forbids sending it.
        guard amount > 0 else { throw Decline(.invalidAmount, "a purchase amount must be above zero") }
        var card = CardSession(channel: channel)
        let purse = try card.selectPurse(profiles)
        card.cardNumber = purse.info.cardNumber
        try purse.checkValidity(on: time.date)

        let code = purse.profile.asksAuthenticationCode ? try card.authenticationCode() : nil

        let initialize = PurseCommand.initializeForPurchase(
            p1: 0x01, keyIndex: psam.purchaseKeyIndex, amount: amount, terminal: psam.terminalNumber)
        let session = try InitializeForPurchase(card.expect(initialize, length: InitializeForPurchase.length), card: card)

        let transactionType: UInt8 = 0x06
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

        let pending = PendingDebit(
            cardNumber: purse.info.cardNumber, profile: purse.profile, transactionType: transactionType,
            amount: amount, balanceBefore: session.balance, counter: session.counter,
            keyVersion: session.keyVersion, algorithmID: session.algorithmID, cardRandom: session.random,
            terminalSequence: sequence, time: time, terminalNumber: psam.terminalNumber)
        do {
            try recordPending(pending)
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
            let tac = Array(answer.data[0..<4])
            let mac2 = Array(answer.data[4..<8])
            let verified = psam.verifyMAC2(mac2)
            return .approved(PurchaseReceipt(debit: pending, tac: tac, mac2: mac2, mac2Verified: verified))
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

    init(_ data: [UInt8], card: CardSession) throws(Decline) {
        balance = UInt32(BigEndian.uint(data[0..<4]))
        counter = UInt16(BigEndian.uint(data[4..<6]))
        keyVersion = data[9]
        algorithmID = data[10]
        random = Array(data[11..<15])
        guard algorithmID == 0x00 || algorithmID == 0x04 else {
            throw Decline(.unsupportedAlgorithm, "algorithm id \(algorithmID.hexByte)", cardNumber: card.cardNumber)
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
