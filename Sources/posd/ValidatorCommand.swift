import ArgumentParser
import BoardPanel
import Cashier
import Fares
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Journal
import LineServer
import Purse
import StoreAndForward
import Terminal

/// The bus validator: no cashier, a tap at a time, flat or distance fares.
struct ValidatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validator",
        abstract: "Run the bus validator: each card tapped pays its fare (a CAPP purchase on its transit record).",
        discussion: """
            With --route, distance fares: a tap on is free and opens the journey on the card, the \
            tap off pays the route's fare between the two stops, a journey never tapped off costs \
            the route's highest fare at the next tap. Without it, the flat fare from the platform's \
            parameters. Either way, boarding within the transfer window after a paid tap takes the \
            transfer discount, and a second tap moments after the first is refused as already \
            checked in, never charged. After each tap the validator waits for the card to leave, \
            so one tap is never charged twice. Exit status of the last tap as for `posd purchase`.
            """)

    @Option(help: "Line number of this vehicle.")
    var line: UInt16

    @Option(help: "Stop number where the vehicle is now (an index into the route's stops).")
    var stop: UInt16 = 0

    @Option(help: "Route definition (JSON: line, stops, fares[from][to] in fen) for distance fares.")
    var route: String?

    @Option(help: "Stop after this many taps (0: run until stopped).")
    var taps = 0

    @Option(help: "After a torn tap, seconds to wait for the same card to be tapped again.")
    var recoveryWaitSeconds: UInt32 = 10

    @Option(help: "Board definition (display, LEDs, buzzer); without it results are printed only.")
    var board: String?

    func validate() throws {
        try require(taps, in: 0...Int(Int32.max), "taps")
        try require(recoveryWaitSeconds, in: 0...600, "recovery-wait-seconds")
    }

    @OptionGroup var limitOptions: LimitOptions
    @OptionGroup var readers: ReaderOptions
    @OptionGroup var data: DataOptions

    func run() throws {
        unblockStopSignals()  // it runs until stopped, whoever started it
        let validator = try Validator(line: line, stop: stop, route: route, board: board, core: TerminalCore(data: data, limits: limitOptions),
                                      readers: readers, recoveryWaitSeconds: recoveryWaitSeconds)
        throw ExitCode(validator.serve(taps: taps, waitMilliseconds: readers.waitSeconds * 1000))
    }
}

/// A validator set up and serving taps: `posd validator`, and `posd run` on a
/// terminal provisioned as one.
struct Validator {
    let journal: Journal
    let parameters: LiveParameters
    let terminal: Terminal
    let panel: BoardPanel?
    let screen: ValidatorScreen
    let line: UInt16
    /// The provisioned stop, or the vehicle computer's while its feed is fresh.
    let position: VehiclePosition
    /// A route for distance fares; nil: the platform's flat fare.
    let route: Route?
    let recoveryWaitSeconds: UInt32
    let json: Bool
    /// The vehicle feed's socket server, while it serves.
    private let feed: ControlServer?

    /// `vehicleFeed`: serve the vehicle computer's feed on this socket path,
    /// a report older than `staleAfter` giving way to the provisioned `stop`.
    init(line: UInt16, stop: UInt16, route: String?, board: String?, core: TerminalCore, readers: ReaderOptions,
         recoveryWaitSeconds: UInt32, vehicleFeed: String? = nil, staleAfter: Duration = .seconds(120), statusFile: URL? = nil) throws {
        journal = core.journal
        parameters = core.parameters
        self.line = line
        if let route {
            let definition: Route
            do {
                definition = try JSONDecoder().decode(Route.self, from: Data(contentsOf: URL(fileURLWithPath: route)))
                try definition.validate()
            } catch {
                throw ValidationError("route \(route): \(error)")
            }
            guard definition.line == line else { throw ValidationError("route \(route) is line \(definition.line), not line \(line)") }
            guard Int(stop) < definition.stops.count else { throw ValidationError("stop \(stop) is not a stop of the route") }
            self.route = definition
        } else {
            self.route = nil
        }
        var log: (@Sendable (String) -> Void)?
        if vehicleFeed != nil { log = { message in logLine(message) } }
        let position = VehiclePosition(line: line, provisionedStop: stop, stopCount: self.route?.stops.count, staleAfter: staleAfter,
                                       statusFile: statusFile, log: log)
        self.position = position
        feed = try vehicleFeed.map { path in try position.serve(at: path) }
        panel = try board.map { try BoardPanel(board: $0) }
        screen = ValidatorScreen(width: panel?.definition.display.columns ?? 16, height: panel?.definition.display.rows ?? 2)
        try panel?.display.initialize()
        try panel?.display.show(screen.idle(line: line, stop: self.route.map { $0.stops[Int(stop)] }))
        terminal = try readers.terminal(core)
        self.recoveryWaitSeconds = recoveryWaitSeconds
        json = readers.json
    }

    /// The fare rules for the next tap, from the parameters as they stand now
    /// (flat fare, transfer window and discount), and the most a tap can cost.
    func rules() -> (rules: FareRules, mostCharged: UInt32) {
        let fares = parameters.current.parameters?.fares
        let mode: FareRules.Mode = route.map { .distance($0) } ?? .flat(fares?.flat ?? 200)
        let rules = FareRules(mode: mode, line: line, stop: position.inForce().stop, terminal: terminal.psam.terminalNumber,
                              transferWindowSeconds: fares?.transferWindowSeconds ?? 5400, transferDiscount: fares?.transferDiscount ?? 100)
        let mostCharged = switch mode {
        case .flat(let fare): UInt32(clamping: fare)
        case .distance(let route): UInt32(clamping: route.maxFare)
        }
        return (rules, mostCharged)
    }

    /// The idle screen at the stop in use now.
    var idleScreen: [String] { screen.idle(line: line, stop: route.map { $0.stops[Int(position.current().stop)] }) }

    /// Until the readers are usable (or `shouldStop`): they come back by
    /// themselves (pcscd restarted, a reader plugged back, a PSAM put back);
    /// meanwhile the display names the part at fault, checked once a second.
    /// Returns whether there was a fault to wait out.
    @discardableResult
    func awaitReaders(shouldStop: () -> Bool) -> Bool {
        var shown: ReaderFault?
        while !shouldStop(), let fault = terminal.readers.ready() {
            if fault != shown {
                logLine("no taps: \(fault)")
                try? panel?.display.show(screen.fit(["NO SALES", fault.part.rawValue]))
            }
            shown = fault
            sleep(1)
        }
        guard shown != nil else { return false }
        logLine("taps again: the readers are back")
        try? panel?.display.show(idleScreen)
        return true
    }

    /// Serves `taps` taps (0: until `shouldStop`), each waited for up to
    /// `waitMilliseconds`. A tap under way is always finished (journalled and
    /// shown) before `shouldStop` is looked at. Returns the last tap's exit status.
    func serve(taps: Int, waitMilliseconds: UInt32, shouldStop: () -> Bool = { false }) -> Int32 {
        var served = 0
        var exitCode: Int32 = 0
        var idle = idleScreen
        while (taps == 0 || served < taps) && !shouldStop() {
            awaitReaders(shouldStop: shouldStop)
            if idleScreen != idle {  // the bus moved on while nobody tapped
                idle = idleScreen
                try? panel?.display.show(idle)
            }
            let outcome: PurchaseOutcome
            do {
                outcome = try terminal.tap(time: journal.transactionTime(), timeoutMilliseconds: waitMilliseconds, journal: journal,
                                           recoveryWaitMilliseconds: recoveryWaitSeconds * 1000,
                                           askAgain: {
                                               show(json ? #"{"result":"tap_again","card_no":"\#($0)"}"# : "TAP CARD \($0) AGAIN")
                                               try? panel?.display.show(screen.tapAgain)
                                           },
                                           pricing: {
                                               let (rules, mostCharged) = rules()
                                               return (mostCharged, { record, card, now in rules.charge(record, card: card, now: now) })
                                           })
            } catch {
                if taps == 0 {  // nobody tapped, or the readers went away: `ready()` says which
                    if !error.isTimeout { sleep(1) }
                    continue
                }
                logLine("\(error)")
                return setUpFailure
            }
            served += 1
            let report = PurchaseReport(outcome, amount: 0)
            show(report, json: json)
            try? panel?.display.show(screen.result(outcome))
            try? panel?.signals.show(outcome)
            exitCode = report.exitCode
            // The same tap is never served twice: the card must leave before the next.
            guard taps == 0 || served < taps else { break }
            while !shouldStop() {
                do {
                    try terminal.waitForRemoval(timeoutMilliseconds: 1000)
                    break
                } catch where !error.isTimeout {
                    // pcscd or the reader went away under the card. Once they are
                    // back, a card still in the field is a new presentation to
                    // pcscd and is served again: a double tap is refused by the
                    // fare rules, an uncertain tap is settled by recovery.
                    if awaitReaders(shouldStop: shouldStop) { break }
                    sleep(1)
                } catch {
                    continue
                }
            }
            idle = idleScreen
            try? panel?.display.show(idle)
        }
        return exitCode
    }
}

/// One line to the log (stderr), as the rest of posd's terminal loops write it.
@Sendable func logLine(_ message: String) {
    writeAll(STDERR_FILENO, "posd: \(message)\n")
}
