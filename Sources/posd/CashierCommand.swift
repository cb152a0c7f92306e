import ArgumentParser
import BoardDefinition
import BoardPanel
import Cashier
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Journal
import LineServer
import Panel
import Purse
import Settings
import StoreAndForward
import Terminal

/// The cashier terminal: keypad and display from the board definition, the
/// readers it names, the journal. Runs until stopped.
struct CashierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cashier", abstract: "Run the cashier terminal on a board's keypad and display.")

    @Option(help: "Board definition (Board/boards/<name>/board.json).")
    var board: String

    @Option(help: "Seconds the customer has to present a card.")
    var cardWaitSeconds: UInt32 = 30

    func validate() throws {
        try require(cardWaitSeconds, in: 1...600, "card-wait-seconds")
    }

    @OptionGroup var limitOptions: LimitOptions
    @OptionGroup var data: DataOptions

    func run() throws {
        unblockStopSignals()  // it runs until stopped, whoever started it
        let definition = try BoardDefinition.load(URL(fileURLWithPath: board))
        let readers = try ReaderOptions.parse(["--card-reader", definition.readers.card, "--psam-reader", definition.readers.psam])
        // No service beside it: the menu's reports work, settling is `posd settle` (or `posd run`).
        try CashierTerminal(board: board, core: TerminalCore(data: data, limits: limitOptions), readers: readers,
                            cardWaitSeconds: cardWaitSeconds, settings: try? TerminalSettings.load(from: data.url), desk: nil)
            .serve(shouldStop: { false })
    }
}

/// The cashier terminal set up: `posd cashier`, and `posd run` on a terminal
/// provisioned as one.
struct CashierTerminal {
    let panel: BoardPanel
    let journal: Journal
    let parameters: LiveParameters
    let terminal: Terminal
    let cardWaitSeconds: UInt32
    let menu: MerchantMenu

    init(board: String, core: TerminalCore, readers: ReaderOptions, cardWaitSeconds: UInt32, settings: TerminalSettings?,
         desk: SettlementDesk?) throws {
        panel = try BoardPanel(board: board)
        let missing = panel.definition.missingCashierKeys
        guard missing.isEmpty else {
            throw BoardDefinition.Invalid(description: "board \(panel.definition.name) has no \(missing.joined(separator: ", ")) key: a cashier needs them")
        }
        journal = core.journal
        parameters = core.parameters
        terminal = try readers.terminal(core)
        self.cardWaitSeconds = cardWaitSeconds
        menu = MerchantMenu(journal: core.journal, settings: settings, desk: desk)
    }

    /// Serves the keypad until `shouldStop`; a sale under way is finished first.
    func serve(shouldStop: () -> Bool) {
        do { try loop(shouldStop) } catch {
            logLine("panel: \(error)")
        }
    }

    private func loop(_ shouldStop: () -> Bool) throws {
        let (definition, display, keypad, signals, clock) = (panel.definition, panel.display, panel.keypad, panel.signals, panel.clock)
        var flow = CashierFlow(maxPurchase: parameters.current.maxPurchase, width: definition.display.columns, height: definition.display.rows)
        flow.supervisorPINProvisioned = menu.settings?.supervisorPIN != nil
        try display.initialize()
        var shown: [String] = []
        var nextRefusalCheck: UInt64 = 0
        // One sale, one presentation: a card left in the field after a sale
        // or a balance is not charged by the next ENTER; it must leave first.
        var lastCardMayBeInField = false
        func previousCardLifted() -> Bool {
            guard lastCardMayBeInField else { return true }
            if (try? terminal.waitForRemoval(timeoutMilliseconds: 0)) != nil { return true }
            try? display.show(flow.liftCardScreen)
            return (try? terminal.waitForRemoval(timeoutMilliseconds: cardWaitSeconds * 1000)) != nil
        }
        while !shouldStop() {
            // The idle screen says when sales are refused (a journal fault, an
            // offline limit already reached), refreshed once a second rather than
            // every scan; each purchase still checks for itself.
            if flow.state == .idle && clock.nanoseconds >= nextRefusalCheck {
                nextRefusalCheck = clock.nanoseconds + 1_000_000_000
                flow.maxPurchase = parameters.current.maxPurchase  // parameters a sync stored apply from the next sale
                flow.refusal = journal.fault.map { _ in "JOURNAL FAULT" } ?? terminal.readers.ready().map(\.part.rawValue)
                    ?? terminal.offlineLimits.refusal(journal.offlineExposure, amount: 1, now: journal.transactionTime()).map { _ in "OFFLINE LIMIT" }
                flow.notice = menu.idleNotice
            }
            if flow.screen != shown {
                shown = flow.screen
                try display.show(shown)
            }
            for event in try keypad.poll() {
                guard case .down(let key) = event else { continue }
                switch flow.press(key) {
                case .purchase? where !previousCardLifted(), .balance? where !previousCardLifted():
                    flow.previousCardNeverLifted()
                case .purchase(let amount)?:
                    try display.show(flow.screen)
                    lastCardMayBeInField = true
                    let outcome = (try? terminal.purchase(amount: amount, time: journal.transactionTime(), timeoutMilliseconds: cardWaitSeconds * 1000,
                                                          journal: journal, recoveryWaitMilliseconds: cardWaitSeconds * 1000) { _ in
                        try? display.show(["PRESENT CARD", "AGAIN"])
                    }) ?? .declined(Decline(.cardRemoved, "no card"))
                    flow.finished(outcome)
                    try signals.show(outcome)
                case .balance?:
                    try display.show(flow.screen)
                    lastCardMayBeInField = true
                    let report = (try? terminal.balance(timeoutMilliseconds: cardWaitSeconds * 1000, journal: journal))
                        ?? .failure(Decline(.cardRemoved, "no card"))
                    flow.finished(report)
                case .report(let item)?:
                    flow.show(menu.report(item))
                case .settle(let pin)?:
                    try display.show(flow.screen)
                    flow.show(menu.settle(pin: pin, now: clock.nanoseconds))
                case nil:
                    break
                }
            }
            clock.wait(nanoseconds: 2_000_000)  // the scan period
        }
    }
}
