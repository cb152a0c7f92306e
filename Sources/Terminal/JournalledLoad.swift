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
    public func load(amount: UInt32, pin: [UInt8], time: BCDDateTime, timeoutMilliseconds: UInt32, journal: Journal,
                     recoveryWaitMilliseconds: UInt32 = 0, askAgain: (CardNumber) -> Void = { _ in },
                     authorise: (LoadAuthorisation) async throws(LoadAuthorisationError) -> [UInt8]) async throws(SetupError) -> PurchaseOutcome {
        if let fault = journal.fault {
            return .declined(Decline(.journalUnavailable, "journal fault: \(fault)"))
        }
        let seam = JournalSeam(journal)
        let flow = LoadFlow(profiles: configuration.profiles, journal: seam)
        let channel = try connectCard(timeoutMilliseconds: timeoutMilliseconds)
        let outcome: PurchaseOutcome
        switch flow.start(card: channel, psam: psam, amount: amount, pin: pin, time: time) {
        case .recovered(let receipt): outcome = .recovered(receipt)
        case .declined(let decline): outcome = .declined(decline)
        case .blocked(let block): outcome = .blocked(block)
        case .ready(let authorisation):
            do {
                let mac2 = try await authorise(authorisation)
                outcome = flow.credit(card: channel, authorisation, mac2: mac2)
            } catch {
                let number = authorisation.pending.cardNumber
                outcome = switch error {
                case .refused(let reason): .declined(Decline(.loadRefused, reason, cardNumber: number, pending: nil))
                case .unavailable(let why): .declined(Decline(.platformUnavailable, why, cardNumber: number, pending: nil))
                }
            }
        }
        let settled = journalled(outcome, entry: seam.pendingEntry, time: time, journal: journal)
        return settleOnSameCard(settled, waitMilliseconds: recoveryWaitMilliseconds, askAgain: askAgain) { card, torn in
            let retrySeam = JournalSeam(journal)
            let retried = LoadFlow(profiles: configuration.profiles, journal: retrySeam).recover(card: card, required: torn)
            return journalled(retried, entry: retrySeam.pendingEntry, time: journal.transactionTime(), journal: journal)
        }
    }
}
