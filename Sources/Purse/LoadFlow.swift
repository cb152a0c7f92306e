import Hex
import ISO7816

/// What INITIALIZE FOR LOAD gave: everything the platform needs for MAC2,
/// and the PENDING entry-to-be.
public struct LoadAuthorisation: Equatable, Sendable {
    /// Type `02`, the online counter before, R, and the time that goes into CREDIT.
    public var pending: PendingDebit
    public var mac1: [UInt8]
}

/// Where a load stopped before the platform was asked for MAC2.
public enum LoadStart: Equatable, Sendable {
    case ready(LoadAuthorisation)
    /// An earlier torn transaction of this card was completed instead (§9.3).
    case recovered(PurchaseReceipt)
    case declined(Decline)
    case blocked(CardBlock)
}

/// An online load (contract §8.3) in two steps around the platform's MAC2:
/// `start` (select, recovery, checks, VERIFY PIN, INITIALIZE FOR LOAD) and
/// `credit` (PENDING durable, CREDIT FOR LOAD). One MAC2 serves one
/// INITIALIZE: after an uncertain CREDIT, recovery settles it; the platform is
/// never asked twice for the same INITIALIZE.
public struct LoadFlow {
    public var profiles: [PurseProfile]
    public var journal: any PurchaseJournal
    /// The load key index (configured; the test cards use `01`).
    public var keyIndex: UInt8

    public init(profiles: [PurseProfile] = PurseProfile.allCases, journal: any PurchaseJournal, keyIndex: UInt8 = 0x01) {
        self.profiles = profiles
        self.journal = journal
        self.keyIndex = keyIndex
    }

    public func start(card channel: APDUChannel, psam: PSAM, amount: UInt32, pin: [UInt8], time: BCDDateTime) -> LoadStart {
        do throws(Decline) {
            guard amount > 0 else { throw Decline(.invalidAmount, "a load amount must be above zero") }
            var card = CardSession(channel: channel)
            let purse = try card.selectPurse(profiles)
            let number = purse.info.cardNumber
            card.cardNumber = number
            if let recovered = try journal.recoverTornEntry(card: card, number: number) { return .recovered(recovered) }
            try purse.checkValidity(on: time.date)
            if try journal.checkHotList(number) { return .blocked(CardBlocking(card: card, psam: psam, permanent: false).run()) }

            let verify = try card.send(PurseCommand.verifyPIN(pin))
            switch verify.status.value {
            case 0x9000: break
            case 0x6983: throw Decline(.pinBlocked, "VERIFY answered 6983", cardNumber: number)
            case let status where status & 0xFFF0 == 0x63C0:
                throw Decline(.pinWrong, "\(status & 0x0F) tries left", cardNumber: number)
            default: throw Decline(CardSession.reason(for: verify.status), "VERIFY answered \(verify.status)", cardNumber: number)
            }

            let data = try card.expect(PurseCommand.initializeForLoad(keyIndex: keyIndex, amount: amount, terminal: psam.terminalNumber),
                                       length: 16)
            let figures = CardFigures(balance: UInt32(BigEndian.uint(data[0..<4])), counter: UInt16(BigEndian.uint(data[4..<6])))
            let algorithmID = data[7]
            guard algorithmID == 0x00 || algorithmID == 0x04 else {
                throw Decline(.unsupportedAlgorithm, "algorithm id \(algorithmID.hexByte)", cardNumber: number, learned: figures)
            }
            // A balance that the load would carry past 32 bits, or an exhausted
            // online counter the card should have refused (9402), is not a card
            // to credit: the platform is not asked for MAC2.
            guard UInt64(figures.balance) + UInt64(amount) <= UInt64(UInt32.max), figures.counter < 0xFFFF else {
                throw Decline(.cardError, "INITIALIZE FOR LOAD gave balance \(figures.balance), online counter \(figures.counter)",
                              cardNumber: number, learned: figures)
            }
            let pending = PendingDebit(
                cardNumber: number, profile: purse.profile, transactionType: 0x02, amount: amount,
                balanceBefore: figures.balance, counter: figures.counter,
                keyVersion: data[6], algorithmID: algorithmID, cardRandom: Array(data[8..<12]),
                terminalSequence: 0, time: time, terminalNumber: psam.terminalNumber)
            return .ready(LoadAuthorisation(pending: pending, mac1: Array(data[12..<16])))
        } catch {
            return .declined(error)
        }
    }

    /// CREDIT FOR LOAD with the platform's MAC2, on the card that was started.
    public func credit(card channel: APDUChannel, _ authorisation: LoadAuthorisation, mac2: [UInt8]) -> PurchaseOutcome {
        var pending = authorisation.pending
        do {
            pending.journalEntry = try journal.recordPending(pending)
        } catch {
            return .declined(Decline(.journalUnavailable, "\(error)", cardNumber: pending.cardNumber))
        }
        // From here on a lost answer means UNCERTAIN, never "declined".
        let answer: ResponseAPDU
        do {
            answer = try channel.send(PurseCommand.creditForLoad(time: pending.time, mac2: mac2))
        } catch {
            return .uncertain(pending, detail: "CREDIT: \(error)")
        }
        switch (answer.status.value, answer.data.count) {
        case (0x9000, 4):
            let receipt = PurchaseReceipt(debit: pending, tac: answer.data, mac2: mac2, mac2Verified: true)
            // COMPLETE durable before anything else is sent (§9.2).
            do {
                try journal.recordComplete(receipt)
            } catch {
                return .uncertain(pending, detail: "credited by the card but not journalled (\(error))")
            }
            return .approved(receipt)
        case (0x9302, 0):
            return .declined(Decline(.mac2Rejected, "CREDIT answered 9302", cardNumber: pending.cardNumber, pending: pending))
        default:
            return .uncertain(pending, detail: "CREDIT answered \(answer)")
        }
    }

    /// The card of a torn load presented again: recovery only. A load that
    /// did not reach the card is not retried here (a new load is a new
    /// INITIALIZE and a new MAC2, asked for by the cashier).
    public func recover(card channel: APDUChannel, required: CardNumber) -> PurchaseOutcome {
        do throws(Decline) {
            var card = CardSession(channel: channel)
            let number = try card.selectPurse(profiles).info.cardNumber
            card.cardNumber = number
            guard number == required else { throw Decline(.wrongCard, "present card \(required), not \(number)", cardNumber: number) }
            if let receipt = try journal.recoverTornEntry(card: card, number: number) { return .recovered(receipt) }
            return .declined(Decline(.notCommitted, "the load did not reach the card", cardNumber: number))
        } catch {
            return .declined(error)
        }
    }
}
