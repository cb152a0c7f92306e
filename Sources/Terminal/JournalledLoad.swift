import ISO7816
import Journal
import PCSC
import Purse

/// Why the platform gave no MAC2 for a load. Either way CREDIT is not sent
/// and the card is unchanged.
public enum LoadAuthorisationError: Error, Equatable, Sendable {
    /// The platform refused (its limits: `402`), with its reason.
    case refused(String)
    /// The platform could not be asked (network, timeout, fault).
    case unavailable(String)
}

extension Terminal {
    /// One online load (contract §8.3) on the next card presented: PIN and
    /// INITIALIZE FOR LOAD on the card, MAC2 from `authorise` (the clearing
    /// platform), PENDING durable, CREDIT FOR LOAD, the `load` record durable
    /// before the result is returned. The card stays connected while the
    /// platform is asked. A lost CREDIT answer is settled by recovery on the
    /// same card (asked for again for up to `recoveryWaitMilliseconds`), never
    /// by asking the platform for a second MAC2.
    /// How many times one INITIALIZE's MAC2 is asked for when the answer is
    /// lost: the platform books a load when it issues MAC2, and the call is
    /// idempotent (same MAC2, booked once), so asking again while the card is
    /// still connected turns a lost answer into a credited card instead of a
    /// booked load the card never got. Each call has the client's own timeout.
    public var loadAuthorisationAttempts: Int { 3 }

    static func authorisation(_ request: LoadAuthorisation, attempts: Int,
                              _ authorise: (LoadAuthorisation) async throws(LoadAuthorisationError) -> [UInt8])
        async throws(LoadAuthorisationError) -> [UInt8]
    {
        var attempt = 1
        while true {
            do {
                return try await authorise(request)
            } catch .unavailable where attempt < attempts {
                attempt += 1
            }
        }
    }

    public func load(amount: UInt32, pin: [UInt8], time: @autoclosure () -> BCDDateTime, timeoutMilliseconds: UInt32, journal: Journal,
                     recoveryWaitMilliseconds: UInt32 = 0, askAgain: (CardNumber) -> Void = { _ in },
                     authorise: (LoadAuthorisation) async throws(LoadAuthorisationError) -> [UInt8]) async throws(SetupError) -> PurchaseOutcome {
        if let fault = journal.fault {
            return .declined(Decline(.journalUnavailable, "journal fault: \(fault)"))
        }
        let seam = JournalSeam(journal)
        let flow = LoadFlow(profiles: configuration.profiles, journal: seam)
        let channel = try readers.connectCard(timeoutMilliseconds: timeoutMilliseconds)
        let time = time()  // when the card came, not when the wait for it began
        let outcome: PurchaseOutcome
        switch flow.start(card: channel, psam: psam, amount: amount, pin: pin, time: time) {
        case .recovered(let receipt): outcome = .recovered(receipt)
        case .declined(let decline): outcome = .declined(decline)
        case .blocked(let block): outcome = .blocked(block)
        case .ready(let authorisation):
            do {
                let mac2 = try await Self.authorisation(authorisation, attempts: loadAuthorisationAttempts, authorise)
                outcome = flow.credit(card: channel, authorisation, mac2: mac2)
            } catch {
                let pending = authorisation.pending
                let learned = CardFigures(balance: pending.balanceBefore, counter: pending.counter)
                outcome = switch error {
                case .refused(let reason): .declined(Decline(.loadRefused, reason, cardNumber: pending.cardNumber, learned: learned))
                case .unavailable(let why): .declined(Decline(.platformUnavailable, why, cardNumber: pending.cardNumber, learned: learned))
                }
            }
        }
        let settled = journalled(outcome, time: time, journal: journal)
        return settleOnSameCard(settled, waitMilliseconds: recoveryWaitMilliseconds, journal: journal, askAgain: askAgain) { card, torn in
            let retrySeam = JournalSeam(journal)
            let retried = LoadFlow(profiles: configuration.profiles, journal: retrySeam).recover(card: card, required: torn)
            return journalled(retried, time: journal.transactionTime(), journal: journal)
        }
    }
}
