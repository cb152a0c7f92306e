import FlightRecorder
import Hex
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ISO7816
import Journal
import PCSC
import Posix
import Purse
import Synchronization

/// The terminal's readers and PSAM, wired together: the card reader is watched
/// on one PC/SC context and spoken to on another, and the PSAM is started once.
public final class Terminal {
    public struct Configuration: Sendable {
        public var cardReader: String
        public var psamReader: String
        public var profiles: [PurseProfile]
        /// How long start-up waits for the PSAM to be seen in its reader.
        public var psamWaitMilliseconds: UInt32
        /// The limits as first given; `currentLimits`, when set, is asked
        /// instead on every tap (a running terminal's live parameters).
        public var offlineLimits: OfflineLimits
        public var currentLimits: (@Sendable () -> OfflineLimits)?
        /// Where the terminal notes what no screen shows: the raw card answers
        /// behind an uncertain debit, alarms. Never given secrets.
        public var log: @Sendable (String) -> Void
        /// The bound on every call to a reader (connect, transmit): a card or
        /// reader that never answers costs this much, never the terminal.
        public var readerCallMilliseconds: UInt32 = 5_000
        /// Where every tap's APDUs go (card and PSAM), for diagnostics.
        public var recorder: FlightRecorder?

        public init(cardReader: String, psamReader: String,
                    profiles: [PurseProfile] = PurseProfile.allCases, psamWaitMilliseconds: UInt32 = 5_000,
                    offlineLimits: OfflineLimits = .standard, log: @escaping @Sendable (String) -> Void = { _ in }) {
            self.log = log
            self.cardReader = cardReader
            self.psamReader = psamReader
            self.profiles = profiles
            self.psamWaitMilliseconds = psamWaitMilliseconds
            self.offlineLimits = offlineLimits
        }
    }

    public enum SetupError: Error, CustomStringConvertible {
        case readerMissing(String, available: [String])
        case pcsc(String, PCSCError)
        case psam(PSAM.Failure)
        /// The PSAM put back is another terminal's (its terminal number differs).
        case psamReplaced(String)
        /// The readers are not usable right now (`Readers.ready()` says why).
        case unavailable(ReaderFault)

        public var description: String {
            switch self {
            case .readerMissing(let name, let available):
                "reader \"\(name)\" not found (readers: \(available.isEmpty ? "none" : available.joined(separator: ", ")))"
            case .pcsc(let what, let error): "\(what): \(error)"
            case .psam(let failure): "PSAM start-up failed: \(failure)"
            case .psamReplaced(let number): "the PSAM now in the reader is terminal \(number)'s, not this terminal's"
            case .unavailable(let fault): "\(fault)"
            }
        }

        /// Nothing happened in time (no card presented, or not lifted): not a fault.
        public var isTimeout: Bool {
            if case .pcsc(_, .timeout) = self { true } else { false }
        }
    }

    public let configuration: Configuration
    /// The offline limits in force for the next tap.
    public var offlineLimits: OfflineLimits { configuration.currentLimits?() ?? configuration.offlineLimits }
    /// The card reader and the PSAM: PC/SC on a terminal, scripted in tests.
    public let readers: any Readers
    public var psam: PSAM { readers.psam }
    /// The last journal write that failed after a card had answered; nil while
    /// all is well. Diagnostics and the display report it.
    public internal(set) var journalAlarm: String?

    /// The terminal on its PC/SC readers (`PCSCReaders`).
    public convenience init(_ configuration: Configuration) throws(SetupError) {
        self.init(configuration, readers: try PCSCReaders(configuration))
    }

    /// The terminal on any `Readers`: the journalled sale, tap and load logic
    /// runs the same over scripted cards as over pcscd.
    public init(_ configuration: Configuration, readers: any Readers) {
        self.configuration = configuration
        self.readers = readers
    }

    /// Waits for a card, connects, and hands its channel to `body`.
    public func withCard<T>(timeoutMilliseconds: UInt32, _ body: (APDUChannel) -> T) throws(SetupError) -> T {
        body(try readers.connectCard(timeoutMilliseconds: timeoutMilliseconds))
    }

    /// Waits until the card has left, so the same tap is never served twice.
    public func waitForRemoval(timeoutMilliseconds: UInt32) throws(SetupError) {
        try readers.waitForRemoval(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Balance and last-10 history of the next card presented. With the
    /// journal, a hot-listed card is blocked and its `card_blocked` record written.
    public func balance(timeoutMilliseconds: UInt32, journal: Journal? = nil) throws(SetupError) -> Result<BalanceReport, Decline> {
        let query = BalanceQuery(profiles: configuration.profiles, isHotListed: { try journal?.isHotListed($0.description) ?? false })
        return try withCard(timeoutMilliseconds: timeoutMilliseconds) { card in
            query.run(card: card, psam: journal == nil ? nil : psam) { block in
                guard let journal else { return }
                do { try journal.append(ClearingRecord(block, time: journal.transactionTime())) } catch { journalAlarm = "\(error)" }
            }
        }
    }
}

extension Journal {
    /// The date and time for the next card transaction: the local clock with
    /// the platform's correction, and never earlier than the newest record
    /// (a clock set back must not make the journal go back in time).
    public func transactionTime(now: Date = Date()) -> BCDDateTime {
        let corrected = BCDDateTime.now(now.addingTimeInterval(Double(clockOffsetSeconds)))
        guard let last = lastRecordTime, last > corrected.description, let floor = BCDDateTime(text: last) else {
            return corrected
        }
        return floor
    }
}

extension BCDDateTime {
    /// The card's date and time for `date`: the terminal's local time (the
    /// contract's dates are local), in the device's time zone as the C
    /// library keeps it (`LocalTime`). A clock outside the years a card can
    /// hold (a real-time clock that lost its battery reads 1970) gives the
    /// nearest end of the range, 2000-01-01 00:00:00 or 9999-12-31 23:59:59,
    /// rather than a trap: a card checks its own validity dates against it
    /// and refuses (`not_yet_valid`, `expired`), so a terminal with no clock
    /// fails closed.
    public static func now(_ date: Date = Date()) -> BCDDateTime {
        let seconds = date.timeIntervalSince1970
        guard seconds.magnitude < 1e15, let local = LocalTime(epochSeconds: Int(seconds.rounded(.down))) else {
            return seconds < 0 ? earliest : latest
        }
        if let time = BCDDateTime(year: local.year, month: local.month, day: local.day, hour: local.hour, minute: local.minute,
                                  second: local.second) {
            return time
        }
        return local.year < 2000 ? earliest : latest
    }

    static let earliest = BCDDateTime(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0)!
    static let latest = BCDDateTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59)!
}

/// Why no sale can be made right now, and which part of the hardware is at
/// fault: the screens name the part (NO SALES / PSAM), the log the detail.
public struct ReaderFault: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Part: String, Sendable {
        /// pcscd itself is not answering (stopped, restarting).
        case service = "PC/SC"
        /// The card reader is missing from pcscd's list (unplugged).
        case cardReader = "READER"
        /// The PSAM is out, not answering, or another terminal's.
        case psam = "PSAM"
    }

    public var part: Part
    public var detail: String
    public init(_ part: Part, _ detail: String) {
        self.part = part
        self.detail = detail
    }

    public var description: String { detail }
}

/// What the journalled sale, tap and load logic needs of the hardware: a card
/// presented (its channel), the card gone, and the started PSAM.
public protocol Readers: AnyObject {
    var psam: PSAM { get }
    /// Brings the readers back if they need it (pcscd restarted, a reader
    /// plugged back, the PSAM put back) and says why no sale can be made right
    /// now, or nil. A terminal's idle loop asks it, so it resumes by itself
    /// once the fault clears.
    func ready() -> ReaderFault?
    /// Waits for a card and connects to it.
    func connectCard(timeoutMilliseconds: UInt32) throws(Terminal.SetupError) -> APDUChannel
    /// Waits until the card has left the field.
    func waitForRemoval(timeoutMilliseconds: UInt32) throws(Terminal.SetupError)
}

/// The readers over pcsc-lite: one context watches the card reader, another
/// transmits to the card, a third to the PSAM (so a wedged card reader cannot
/// block it); the PSAM is started once, and again after any failure.
///
/// In the field pcscd is restarted, readers are unplugged and PSAMs pulled
/// under a running terminal. Any call that says so (no service, an unknown
/// reader, a dead context) marks the readers lost; `ready()` then opens new
/// contexts, checks both readers are listed and starts the PSAM again, and
/// until that succeeds every sale is refused before a card is touched.
public final class PCSCReaders: Readers {
    public private(set) var psam: PSAM
    private var fault: ReaderFault?
    private let configuration: Terminal.Configuration
    private var monitor: PCSCContext
    /// Replaced when a call on it overran its bound (`PCSCContext.stranded`).
    private var cardContext: PCSCContext
    private var psamContext: PCSCContext
    private var psamHandle: CardHandle
    /// Set by the PSAM's link when a transmit fails: the PSAM was pulled, reset
    /// or its reader went away. It is started again before the next card.
    private let psamLinkFailed = PSAMHealth()
    /// Set when pcscd or a reader went away: every context is opened anew.
    private var contextsLost = false
    /// When `ready()` next asks pcscd to list the readers.
    private var nextListing = ContinuousClock.now

    public init(_ configuration: Terminal.Configuration) throws(Terminal.SetupError) {
        self.configuration = configuration
        (monitor, cardContext, psamContext) = try Self.openContexts()
        try Self.checkListed(configuration, monitor: monitor)
        (psamHandle, psam) = try Self.startPSAM(configuration, monitor: monitor, context: psamContext, health: psamLinkFailed,
                                                 waitMilliseconds: configuration.psamWaitMilliseconds)
    }

    private static func openContexts() throws(Terminal.SetupError) -> (PCSCContext, PCSCContext, PCSCContext) {
        do {
            return (try PCSCContext(), try PCSCContext(), try PCSCContext())
        } catch {
            throw .pcsc("PC/SC service", error)
        }
    }

    private static func checkListed(_ configuration: Terminal.Configuration, monitor: PCSCContext) throws(Terminal.SetupError) {
        let readers: [String]
        do { readers = try monitor.readers() } catch { throw .pcsc("PC/SC service", error) }
        for name in [configuration.cardReader, configuration.psamReader] where !readers.contains(name) {
            throw .readerMissing(name, available: readers)
        }
    }

    /// Connects to the PSAM and starts it (select, terminal number).
    private static func startPSAM(_ configuration: Terminal.Configuration, monitor: PCSCContext, context: PCSCContext, health: PSAMHealth,
                                  waitMilliseconds: UInt32) throws(Terminal.SetupError) -> (CardHandle, PSAM) {
        let handle: CardHandle
        do {
            try monitor.waitForCard(in: configuration.psamReader, timeoutMilliseconds: waitMilliseconds)
            handle = try CardHandle(context: context, reader: configuration.psamReader, callMilliseconds: configuration.readerCallMilliseconds)
        } catch {
            throw .pcsc("PSAM in \(configuration.psamReader)", error)
        }
        let watched = WatchedLink(inner: handle, health: health)
        let link: any CardLink = configuration.recorder.map { RecordingLink(watched, device: "psam", recorder: $0) } ?? watched
        do {
            return (handle, try PSAM.start(APDUChannel(link)))
        } catch {
            throw .psam(error)
        }
    }

    /// After pcscd or a reader went away, or a PSAM link failure: new contexts
    /// if needed, both readers listed, the PSAM started again, and it must be
    /// the same terminal's. Until then `fault` says why no sale is made.
    private func recoverIfNeeded() throws(ReaderFault) {
        guard contextsLost || psamLinkFailed.failed else { return }
        if contextsLost {
            fault = ReaderFault(.service, "PC/SC service not answering")
            do { (monitor, cardContext, psamContext) = try Self.openContexts() } catch { throw fault! }
            do { try Self.checkListed(configuration, monitor: monitor) } catch {
                if case .readerMissing(let name, _) = error {
                    fault = ReaderFault(name == configuration.psamReader ? .psam : .cardReader, "\(error)")
                }
                throw fault!
            }
            contextsLost = false
            psamLinkFailed.markFailed()  // the PSAM's handle died with its context
        }
        fault = ReaderFault(.psam, "PSAM not answering in \(configuration.psamReader)")
        if psamContext.stranded {
            do { psamContext = try PCSCContext() } catch { throw ReaderFault(.service, "PC/SC service: \(error)") }
        }
        let (handle, restarted): (CardHandle, PSAM)
        do {
            (handle, restarted) = try Self.startPSAM(configuration, monitor: monitor, context: psamContext, health: psamLinkFailed, waitMilliseconds: 0)
        } catch {
            noteIfLost(error)
            throw fault!
        }
        guard restarted.terminalNumber == psam.terminalNumber else {
            fault = ReaderFault(.psam, "\(Terminal.SetupError.psamReplaced(restarted.terminalNumber.hex))")
            throw fault!
        }
        (psamHandle, psam, fault) = (handle, restarted, nil)
        psamLinkFailed.reset()  // only now: a failed restart is tried again at the next card
    }

    /// Marks the contexts lost when an error says pcscd or a reader went away.
    private func noteIfLost(_ error: Terminal.SetupError) {
        if case .pcsc(_, let pcsc) = error, pcsc.meansReadersLost { contextsLost = true }
    }

    public func ready() -> ReaderFault? {
        // Nothing known wrong: at most once a second (a validator asks before
        // every tap), one round trip to pcscd says whether it and both readers
        // are still there (an idle cashier makes no other call that would notice).
        if !contextsLost, !psamLinkFailed.failed, ContinuousClock.now >= nextListing {
            nextListing = .now + .seconds(1)
            if (try? Self.checkListed(configuration, monitor: monitor)) == nil { contextsLost = true }
        }
        do {
            try recoverIfNeeded()
            return nil
        } catch {
            return error
        }
    }

    /// On a fresh context if a call on the last one overran (the reader hung;
    /// the terminal goes on), and with the readers brought back first if they failed.
    public func connectCard(timeoutMilliseconds: UInt32) throws(Terminal.SetupError) -> APDUChannel {
        do { try recoverIfNeeded() } catch { throw .unavailable(error) }
        do {
            try monitor.waitForCard(in: configuration.cardReader, timeoutMilliseconds: timeoutMilliseconds)
            if cardContext.stranded { cardContext = try PCSCContext() }
            let handle = try CardHandle(context: cardContext, reader: configuration.cardReader,
                                        callMilliseconds: configuration.readerCallMilliseconds)
            guard let recorder = configuration.recorder else { return APDUChannel(handle) }
            recorder.beginTap("card in \(configuration.cardReader)")
            return APDUChannel(RecordingLink(handle, device: "card", recorder: recorder))
        } catch {
            let failure = Terminal.SetupError.pcsc("card in \(configuration.cardReader)", error)
            noteIfLost(failure)
            throw failure
        }
    }

    public func waitForRemoval(timeoutMilliseconds: UInt32) throws(Terminal.SetupError) {
        do {
            try monitor.waitForRemoval(from: configuration.cardReader, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            let failure = Terminal.SetupError.pcsc("card removal from \(configuration.cardReader)", error)
            noteIfLost(failure)
            throw failure
        }
    }
}

/// Whether the PSAM's link has failed since it was last started.
final class PSAMHealth: Sendable {
    private let flag = Atomic<Bool>(false)
    var failed: Bool { flag.load(ordering: .acquiring) }
    func markFailed() { flag.store(true, ordering: .releasing) }
    func reset() { flag.store(false, ordering: .releasing) }
}

/// The PSAM's link, noting any transport failure (not a status word: those
/// are the PSAM's answers) so the readers start it again.
struct WatchedLink: WrappingLink {
    let inner: any CardLink
    let health: PSAMHealth

    func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        do {
            return try inner.transmit(command)
        } catch {
            health.markFailed()
            throw error
        }
    }
}
