import ArgumentParser
import BoardDefinition
import Cashier
import Foundation
import GPIOD
import Journal
import LineIO
import Panel
import Purse
import SimLink
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

    @OptionGroup var limitOptions: LimitOptions
    @OptionGroup var data: DataOptions

    func run() throws {
        let definition = try BoardDefinition.load(URL(fileURLWithPath: board))
        let specs = definition.lineSpecs
        let port: any LinePort = switch definition.lines {
        case .simulated: try SimLink(socketPath: definition.chip, specs: specs)
        case .gpiod: try GPIOChip.open(name: definition.chip).request(specs, consumer: "posd")
        }
        let lines = LogicalLines(port: port, specs: specs)
        let clock = SystemClock()
        let pins = definition.allPins
        func line(_ role: String) -> Int { pins.firstIndex { $0.role == role }! }

        var timing = HD44780.Timing()
        if let pulse = definition.display.enablePulseNanoseconds { timing.enablePulse = UInt64(pulse) }
        let display = HD44780(lines: lines, pins: .init(rs: line("display RS"), e: line("display E"),
                                                        data: (4...7).map { line("display D\($0)") }),
                              clock: clock, columns: definition.display.columns, rows: definition.display.rows, timing: timing)
        let keypad = MatrixKeypad(
            lines: lines, rows: definition.keypad.rows.indices.map { line("keypad row \($0)") },
            columns: definition.keypad.columns.indices.map { line("keypad column \($0)") }, labels: definition.keypad.labels,
            clock: clock, timing: .init(settle: UInt64(definition.keypad.settleMicroseconds) * 1000,
                                        debounce: UInt64(definition.keypad.debounceMilliseconds) * 1_000_000))
        let signals = Signals(lines: lines, green: line("green LED"), red: line("red LED"), buzzer: line("buzzer"), clock: clock)

        let journal = data.journal()
        let limits = limitOptions.resolve(journal)
        let terminal = try setUp { () throws(Terminal.SetupError) in
            try Terminal(.init(cardReader: definition.readers.card, psamReader: definition.readers.psam, offlineLimits: limits.offline))
        }
        var flow = CashierFlow(maxPurchase: limits.maxPurchase, width: definition.display.columns, height: definition.display.rows)
        try display.initialize()
        var shown: [String] = []
        var nextRefusalCheck: UInt64 = 0
        while true {
            // The idle screen says when sales are refused (a journal fault, an
            // offline limit already reached), refreshed once a second rather than
            // every scan; each purchase still checks for itself.
            if flow.state == .idle && clock.nanoseconds >= nextRefusalCheck {
                nextRefusalCheck = clock.nanoseconds + 1_000_000_000
                flow.refusal = journal.fault.map { _ in "JOURNAL FAULT" }
                    ?? terminal.offlineLimits.refusal(journal.offlineExposure, amount: 1, now: journal.transactionTime()).map { _ in "OFFLINE LIMIT" }
            }
            if flow.screen != shown {
                shown = flow.screen
                try display.show(shown)
            }
            for event in try keypad.poll() {
                guard case .down(let key) = event else { continue }
                switch flow.press(key) {
                case .purchase(let amount)?:
                    try display.show(flow.screen)
                    let outcome = (try? terminal.purchase(amount: amount, time: journal.transactionTime(), timeoutMilliseconds: cardWaitSeconds * 1000,
                                                          journal: journal, recoveryWaitMilliseconds: cardWaitSeconds * 1000) { _ in
                        try? display.show(["PRESENT CARD", "AGAIN"])
                    }) ?? .declined(Decline(.cardRemoved, "no card"))
                    flow.finished(outcome)
                    try signals.show(outcome)
                case .balance?:
                    try display.show(flow.screen)
                    let report = (try? terminal.balance(timeoutMilliseconds: cardWaitSeconds * 1000))
                        ?? .failure(Decline(.cardRemoved, "no card"))
                    flow.finished(report)
                case nil:
                    break
                }
            }
            clock.wait(nanoseconds: 2_000_000)  // the scan period
        }
    }
}

/// LED and buzzer patterns for results: green and a short beep when
/// approved, red and a long beep otherwise.
struct Signals {
    let lines: LogicalLines
    let green: Int, red: Int, buzzer: Int
    let clock: any PanelClock

    func show(_ outcome: PurchaseOutcome) throws {
        let ok: Bool = switch outcome {
        case .approved, .recovered: true
        default: false
        }
        try lines.write([green, red, buzzer], [ok, !ok, true])
        clock.wait(nanoseconds: ok ? 100_000_000 : 600_000_000)
        try lines.write([buzzer], [false])
    }
}
