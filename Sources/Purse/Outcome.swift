import Hex

/// Why a card transaction was refused: the `reason` of a `declined` record.
public enum DeclineReason: String, Sendable, Codable, CaseIterable {
    case insufficientBalance = "insufficient_balance"
    case counterExhausted = "counter_exhausted"
    case keyNotSupported = "key_not_supported"
    case mac1Rejected = "mac1_rejected"
    case appBlocked = "app_blocked"
    case notAPurseCard = "not_a_purse_card"
    case notEnabled = "not_enabled"
    case notYetValid = "not_yet_valid"
    case expired = "expired"
    case unsupportedAlgorithm = "unsupported_alg"
    case cardError = "card_error"
    case cardRemoved = "card_removed"
    case psamError = "psam_error"
    /// The write-ahead entry could not be made durable, so the card was not debited.
    case journalUnavailable = "journal_unavailable"
    case invalidAmount = "invalid_amount"
    /// Recovery of this card's torn debit could not tell whether it happened.
    case recoveryUnresolved = "recovery_unresolved"
    /// Another card was presented while the card of an interrupted sale was asked for.
    case wrongCard = "wrong_card"
    /// On the hot list: refused (and its application blocked).
    case hotListed = "hot_listed"
    /// The terminal has taken as much offline as its parameters allow.
    case offlineLimit = "offline_limit"
    /// Loads (§8.3): the PIN was wrong, or is blocked.
    case pinWrong = "pin_wrong"
    case pinBlocked = "pin_blocked"
    /// The clearing platform refused the load (its limits): the card is unchanged.
    case loadRefused = "load_refused"
    /// The clearing platform could not be asked for the load's MAC2: the card is unchanged.
    case platformUnavailable = "platform_unavailable"
    /// The card refused the platform's MAC2 (`9302` on CREDIT).
    case mac2Rejected = "mac2_rejected"
    /// CAPP (§8.2): the composite record is missing or malformed, or locked by another operator.
    case transitRecordInvalid = "transit_record_invalid"
    case transitRecordLocked = "transit_record_locked"
    /// A second tap-on at the same stop moments after the first: nothing charged.
    case alreadyCheckedIn = "already_checked_in"
    /// Recovery proved a torn transaction never reached the card (its entry is closed as such).
    case notCommitted = "not_committed"

    /// Short text for a cashier or a log line.
    public var text: String {
        switch self {
        case .insufficientBalance: "insufficient balance"
        case .counterExhausted: "card counter exhausted"
        case .keyNotSupported: "card key not supported"
        case .mac1Rejected: "card rejected the terminal MAC"
        case .appBlocked: "card blocked"
        case .notAPurseCard: "not a purse card"
        case .notEnabled: "card not enabled"
        case .notYetValid: "card not yet valid"
        case .expired: "card expired"
        case .unsupportedAlgorithm: "card algorithm not supported"
        case .cardError: "card error"
        case .cardRemoved: "card removed too early"
        case .psamError: "PSAM error"
        case .journalUnavailable: "journal unavailable"
        case .invalidAmount: "invalid amount"
        case .recoveryUnresolved: "earlier sale unresolved: call support"
        case .wrongCard: "present the same card again"
        case .hotListed: "card blocked"
        case .offlineLimit: "offline limit reached: records must be delivered"
        case .pinWrong: "wrong PIN"
        case .pinBlocked: "PIN blocked"
        case .loadRefused: "load refused by the platform"
        case .platformUnavailable: "platform unavailable: try later"
        case .mac2Rejected: "card rejected the load MAC"
        case .transitRecordInvalid: "transit record unreadable"
        case .transitRecordLocked: "card in use by another operator"
        case .alreadyCheckedIn: "already checked in"
        case .notCommitted: "did not complete: nothing changed"
        }
    }
}

/// Everything the terminal knows just before it sends DEBIT: the contract's
/// PENDING entry (§9.2). Once this exists the outcome may be unknown, so it
/// must be durable before the first DEBIT byte leaves.
public struct PendingDebit: Hashable, Sendable {
    public var cardNumber: CardNumber
    public var profile: PurseProfile
    /// Transaction type byte: `06` purchase, `09` CAPP purchase.
    public var transactionType: UInt8
    public var amount: UInt32
    public var balanceBefore: UInt32
    /// Offline counter N before this transaction.
    public var counter: UInt16
    public var keyVersion: UInt8
    public var algorithmID: UInt8
    public var cardRandom: [UInt8]
    /// PSAM terminal transaction sequence T.
    public var terminalSequence: UInt32
    public var time: BCDDateTime
    public var terminalNumber: [UInt8]

    /// The composite record written with a CAPP purchase (type `09`).
    public var composite: [UInt8]?
    /// The journal's id for this PENDING entry, once it is durable: it travels
    /// with the outcome (uncertain, declined, approved) back to the journal.
    public var journalEntry: Int64?

    /// Whether `other` names the same card transaction: one card, one type,
    /// one counter value (what GET TRANSACTION PROVE is asked for).
    public func isTransaction(of other: PendingDebit) -> Bool {
        cardNumber == other.cardNumber && transactionType == other.transactionType && counter == other.counter
            && terminalSequence == other.terminalSequence
    }

    /// A load (type `02`): `counter` is then the online counter.
    public var isLoad: Bool { transactionType == 0x02 }

    public init(cardNumber: CardNumber, profile: PurseProfile, transactionType: UInt8, amount: UInt32, balanceBefore: UInt32,
                counter: UInt16, keyVersion: UInt8, algorithmID: UInt8, cardRandom: [UInt8], terminalSequence: UInt32,
                time: BCDDateTime, terminalNumber: [UInt8], composite: [UInt8]? = nil, journalEntry: Int64? = nil) {
        self.composite = composite
        self.journalEntry = journalEntry
        self.cardNumber = cardNumber
        self.profile = profile
        self.transactionType = transactionType
        self.amount = amount
        self.balanceBefore = balanceBefore
        self.counter = counter
        self.keyVersion = keyVersion
        self.algorithmID = algorithmID
        self.cardRandom = cardRandom
        self.terminalSequence = terminalSequence
        self.time = time
        self.terminalNumber = terminalNumber
    }
}

/// A completed debit: the PENDING entry plus the card's proof.
public struct PurchaseReceipt: Equatable, Sendable {
    public var debit: PendingDebit
    public var tac: [UInt8]
    public var mac2: [UInt8]
    /// False when the PSAM did not confirm MAC2 (`80 72` failed). The debit
    /// stands; the contract calls for an alarm (`mac2_unverified`).
    public var mac2Verified: Bool
    /// The proof came from GET TRANSACTION PROVE after a torn transaction
    /// (§9.3); its MAC2 is not PSAM-checked, by the contract.
    public var recovered: Bool

    public init(debit: PendingDebit, tac: [UInt8], mac2: [UInt8], mac2Verified: Bool, recovered: Bool = false) {
        self.debit = debit
        self.tac = tac
        self.mac2 = mac2
        self.mac2Verified = mac2Verified
        self.recovered = recovered
    }

    /// The balance the card holds after this transaction, in fen. Signed:
    /// a card with an overdraft limit may go below zero. Computed in 64 bits
    /// from 32-bit figures, so no card-supplied value can overflow it.
    public var balanceAfter: Int64 {
        debit.isLoad ? Int64(debit.balanceBefore) + Int64(debit.amount) : Int64(debit.balanceBefore) - Int64(debit.amount)
    }

    /// The contract's alarm: a fresh debit whose MAC2 the PSAM did not confirm.
    public var mac2Alarm: Bool { !recovered && !debit.isLoad && !mac2Verified }
}

/// The balance and counter a card reported, as far as the terminal learned
/// them: what a `declined` record carries (clearing API, Clarifications).
public struct CardFigures: Equatable, Sendable {
    public var balance: UInt32
    public var counter: UInt16

    public init(balance: UInt32, counter: UInt16) {
        self.balance = balance
        self.counter = counter
    }
}

/// Fen shown as yuan with two decimals: 1250 → "12.50", -30 → "-0.30".
/// The one money format of every surface (CLI, displays).
public struct Money: CustomStringConvertible, Equatable, Sendable {
    public let fen: Int64
    public init(_ fen: Int64) { self.fen = fen }
    public init(_ fen: UInt32) { self.fen = Int64(fen) }

    public var description: String {
        let magnitude = fen.magnitude
        let cents = magnitude % 100
        return (fen < 0 ? "-" : "") + "\(magnitude / 100)." + (cents < 10 ? "0" : "") + "\(cents)"
    }
}

/// A refusal. `pending` is set when a PENDING entry had been made and must now
/// become FAILED (the card guaranteed unchanged, e.g. `9302` on DEBIT).
public struct Decline: Equatable, Sendable, Error {
    public var reason: DeclineReason
    public var detail: String
    public var cardNumber: CardNumber?
    public var pending: PendingDebit?
    /// The card's balance and counter, when INITIALIZE gave them before the refusal.
    public var learned: CardFigures?

    public init(_ reason: DeclineReason, _ detail: String, cardNumber: CardNumber? = nil, pending: PendingDebit? = nil,
                learned: CardFigures? = nil) {
        self.reason = reason
        self.detail = detail
        self.cardNumber = cardNumber
        self.pending = pending
        self.learned = learned ?? pending.map { CardFigures(balance: $0.balanceBefore, counter: $0.counter) }
    }
}

/// How one purchase ended.
public enum PurchaseOutcome: Equatable, Sendable {
    case approved(PurchaseReceipt)
    case declined(Decline)
    /// DEBIT left the terminal and no definite answer came back: the money may
    /// or may not have moved. Recovery (§9.3) settles it; never debit again.
    case uncertain(PendingDebit, detail: String)
    /// An earlier torn debit of this card turned out to have committed: it is
    /// completed from the card's proof, and nothing new is debited.
    case recovered(PurchaseReceipt)
    /// A hot-listed card: refused, and its application blocked if the card let us.
    case blocked(CardBlock)
}

/// What happened to a hot-listed card (§8.5): the `card_blocked` record.
public struct CardBlock: Equatable, Sendable {
    public enum Result: Equatable, Sendable {
        case temporary, permanent
        case failed(String)
    }
    public var cardNumber: CardNumber
    /// From GET BALANCE, when the card gave it.
    public var balance: UInt32?
    public var result: Result

    /// The record's reason: `blocked_temporary`, `blocked_permanent` or `block_failed`.
    public var reason: String {
        switch result {
        case .temporary: "blocked_temporary"
        case .permanent: "blocked_permanent"
        case .failed: "block_failed"
        }
    }
}
