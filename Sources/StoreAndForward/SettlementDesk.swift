import ClearingAPI
import Dispatch
import Synchronization

/// Where the terminal loop and the store-and-forward service meet: the
/// cashier's "settle now" is handed to the service (the one owner of
/// delivery, so two uploaders never race), and the service reports how the
/// link and the scheduled settlement stand, for the menu and the idle screen.
public final class SettlementDesk: Sendable {
    /// How the platform link stands, as the service last saw it.
    public struct Link: Equatable, Sendable {
        /// Terminal time (`YYYYMMDDhhmmss`) of the last answered request.
        public var lastContact: String?
        /// Terminal time of the last parameters and hot-list refresh.
        public var lastSync: String?
        /// The last failure, until a request succeeds again.
        public var lastError: ClearingError?
        public init() {}
    }

    /// The scheduled settlement's state: nil before its time today.
    public enum Scheduled: Equatable, Sendable {
        case balanced(day: String)
        /// Not balanced yet; retried until it is.
        case failing(day: String, why: String)
    }

    private final class Ticket: Sendable {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Settlement.Outcome?>(nil)
    }

    private struct State {
        var requests: [Ticket] = []
        var link = Link()
        var scheduled: Scheduled?
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: - The terminal loop's side (a thread of its own: it may block)

    /// Asks the service to settle now and waits for the outcome; nil when
    /// the service did not answer within `timeout` (no service running, or
    /// the platform slow: the settlement may still complete).
    public func settleNow(timeout: Duration) -> Settlement.Outcome? {
        let ticket = Ticket()
        state.withLock { $0.requests.append(ticket) }
        let nanoseconds = UInt64(timeout.components.seconds) * 1_000_000_000 + UInt64(timeout.components.attoseconds / 1_000_000_000)
        guard ticket.done.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .success else {
            state.withLock { $0.requests.removeAll { $0 === ticket } }
            return nil
        }
        return ticket.outcome.withLock { $0 }
    }

    public var link: Link { state.withLock { $0.link } }
    public var scheduled: Scheduled? { state.withLock { $0.scheduled } }

    // MARK: - The service's side

    /// Whether a settlement was asked for (the service polls between rounds).
    public var settlementRequested: Bool { state.withLock { !$0.requests.isEmpty } }

    /// Hands `outcome` to everyone waiting for a settlement.
    public func answerRequests(_ outcome: Settlement.Outcome) {
        let waiting = state.withLock { state in
            defer { state.requests.removeAll() }
            return state.requests
        }
        for ticket in waiting {
            ticket.outcome.withLock { $0 = outcome }
            ticket.done.signal()
        }
    }

    public func update(_ change: (inout Link) -> Void) { state.withLock { change(&$0.link) } }
    public func setScheduled(_ scheduled: Scheduled?) { state.withLock { $0.scheduled = scheduled } }
}

/// When `posd run` settles by itself: each day at a provisioned time of day
/// (terminal time, the platform's clock correction applied), then again every
/// `retry` until the day's settlement balances (or there was nothing to settle).
public struct SettlementSchedule: Equatable, Sendable {
    public let hour: Int
    public let minute: Int
    public let retry: Duration

    /// `text` is `HH:MM`, 24-hour.
    public init?(_ text: String, retry: Duration = .seconds(300)) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }),
              let hour = Int(parts[0]), let minute = Int(parts[1]), (0...23).contains(hour), (0...59).contains(minute)
        else { return nil }
        (self.hour, self.minute, self.retry) = (hour, minute, retry)
    }

    /// Whether the day's settlement is due at terminal time `now`
    /// (`YYYYMMDDhhmmss`), given the day it last balanced.
    public func isDue(now: String, lastBalancedDay: String?) -> Bool {
        guard now.count >= 12, let hhmm = Int(now.dropFirst(8).prefix(4)) else { return false }
        return hhmm >= hour * 100 + minute && lastBalancedDay != String(now.prefix(8))
    }
}
