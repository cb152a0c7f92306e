import BoardDefinition
import Cashier
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GPIOD
import LineIO
import Panel
import Purse
import SimLink

/// A board's keypad, display, LEDs and buzzer, wired from its definition:
/// the board simulator's lines (SimLink) on the bench, libgpiod on a terminal.
public struct BoardPanel {
    public let definition: BoardDefinition
    public let display: HD44780
    public let keypad: MatrixKeypad
    public let signals: Signals
    public let clock: SystemClock
    /// Every line of the board, by role, for diagnostics.
    public let lines: LogicalLines

    public init(board: String) throws {
        definition = try BoardDefinition.load(URL(fileURLWithPath: board))
        let specs = definition.lineSpecs
        let port: any LinePort = switch definition.lines {
        case .simulated: try SimLink(socketPath: definition.chip, specs: specs)
        case .gpiod: try GPIOChip(named: definition.chip).request(specs, consumer: "posd")
        }
        lines = LogicalLines(port: port, specs: specs)
        clock = SystemClock()
        let pins = definition.allPins
        func line(_ role: String) -> Int { pins.firstIndex { $0.role == role }! }

        var timing = HD44780.Timing()
        if let pulse = definition.display.enablePulseNanoseconds { timing.enablePulse = UInt64(pulse) }
        display = HD44780(lines: lines, pins: .init(rs: line("display RS"), e: line("display E"),
                                                    data: (4...7).map { line("display D\($0)") }),
                          clock: clock, columns: definition.display.columns, rows: definition.display.rows, timing: timing)
        keypad = MatrixKeypad(
            lines: lines, rows: definition.keypad.rows.indices.map { line("keypad row \($0)") },
            columns: definition.keypad.columns.indices.map { line("keypad column \($0)") }, labels: definition.keypad.labels,
            clock: clock, timing: .init(settle: UInt64(definition.keypad.settleMicroseconds) * 1000,
                                        debounce: UInt64(definition.keypad.debounceMilliseconds) * 1_000_000))
        signals = Signals(lines: lines, green: line("green LED"), red: line("red LED"), buzzer: line("buzzer"), clock: clock)
    }
}

/// LED and buzzer patterns for results (`OutcomeSignal`): green and a short
/// beep when this transaction was paid, red and a long beep otherwise.
public struct Signals {
    let lines: LogicalLines
    let green: Int, red: Int, buzzer: Int
    let clock: any PanelClock

    public func show(_ outcome: PurchaseOutcome) throws {
        let ok = OutcomeSignal(outcome) == .paid
        try lines.write([green, red, buzzer], [ok, !ok, true])
        clock.wait(nanoseconds: ok ? 100_000_000 : 600_000_000)
        try lines.write([buzzer], [false])
    }
}
