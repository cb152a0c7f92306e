import BoardDefinition
import Foundation

/// A whole simulated board, wired as its board definition says: the keypad
/// matrix, the HD44780, the LEDs and the buzzer, at the level of line values.
/// Drivers reach it through `SimLink` (`W`/`R` requests); people and tests
/// press keys and read the screen with the control commands.
public final class SimulatedBoard: @unchecked Sendable {
    public let board: BoardDefinition
    /// Guards the state below; signalled whenever the lines change.
    private let condition = NSCondition()
    private var levels: [Int: Bool] = [:]
    private var matrix: KeypadMatrix
    private var display: HD44780Model
    private let started = DispatchTime.now().uptimeNanoseconds
    /// When a key was last released; the driver's first keypad read after
    /// it, its last one, and how many reads it has made.
    private var lastRelease: UInt64?
    private var upSeenSince: UInt64?
    private var lastRead: UInt64 = 0
    private var reads = 0

    public init(board: BoardDefinition) {
        self.board = board
        matrix = KeypadMatrix(rows: board.keypad.rows.count, columns: board.keypad.columns.count)
        display = HD44780Model(columns: board.display.columns, rows: board.display.rows)
        // Idle levels: every output at its inactive level.
        for pin in board.allPins where pin.direction == .output { levels[pin.pin.offset] = pin.pin.activeLow ?? false }
    }

    /// One request line; returns the reply line.
    ///   W <offsets> <levels>   drive outputs          → OK
    ///   R <offsets>            read lines             → levels as 0/1
    ///   press <key> | release <key> | release-all     → ok
    ///   screen                                        → ok <row>|<row>…
    ///   await-screen <ms> <row>|<row>…                → ok once the screen reads so (rows
    ///                                                   trimmed), error with the screen at the deadline
    ///   await-screen-prefix <ms> <row>|<row>…         → the same, each row only the start of the one shown
    ///   await-released <ms>                           → ok once the driver has scanned the keypad
    ///                                                   for twice the debounce time since the last
    ///                                                   release (the key is up for it), so the same
    ///                                                   key can be pressed again; error at the deadline
    ///   signals                                       → ok green=on red=off buzzer=off
    public func handle(_ line: String) -> String {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if let command = words.first, command == "await-screen" || command == "await-screen-prefix", words.count >= 2,
           let milliseconds = Int(words[1]) {
            let wanted = line.split(separator: " ", maxSplits: 2).dropFirst(2).first.map(String.init) ?? ""
            return awaitScreen(wanted, prefixes: command == "await-screen-prefix", milliseconds: milliseconds)
        }
        if words.first == "await-released", words.count == 2, let milliseconds = Int(words[1]) {
            return awaitReleased(milliseconds: milliseconds)
        }
        return condition.withLock {
            defer { condition.broadcast() }
            switch words.first {
            case "W" where words.count == 3: return drive(words[1], words[2])
            case "R" where words.count == 2: return read(words[1])
            case "press" where words.count == 2, "release" where words.count == 2:
                guard let key = position(of: words[1]) else { return "error no key \(words[1])" }
                if words[0] == "press" { matrix.press(key) } else {
                    matrix.release(key)
                    lastRelease = now
                    upSeenSince = nil
                }
                return "ok"
            case "release-all":
                matrix.pressed.forEach { matrix.release($0) }
                return "ok"
            case "screen":
                return "ok " + display.visibleLines.joined(separator: "|")
            case "signals":
                return "ok green=\(onOff(board.ledGreen)) red=\(onOff(board.ledRed)) buzzer=\(onOff(board.buzzer))"
            default:
                return "error unknown request: \(line)"
            }
        }
    }

    private func awaitScreen(_ wanted: String, prefixes: Bool, milliseconds: Int) -> String {
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        return condition.withLock {
            while true {
                let visible = display.visibleLines.map { $0.trimmingCharacters(in: .whitespaces) }
                let rows = visible.joined(separator: "|")
                let patterns = wanted.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                if visible.count == patterns.count, zip(visible, patterns).allSatisfy({ prefixes ? $0.hasPrefix($1) : $0 == $1 }) {
                    return "ok " + rows
                }
                if !condition.wait(until: deadline) { return "error screen is " + rows }
            }
        }
    }

    private var now: UInt64 { DispatchTime.now().uptimeNanoseconds - started }

    /// Waits until the driver has seen the keys up for twice the debounce
    /// time, counted from its first scan after the release (a debouncer
    /// times stability from what it observes, and a loaded machine scans
    /// late), and then finished one more whole scan.
    private func awaitReleased(milliseconds: Int) -> String {
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        let settled = UInt64(2 * board.keypad.debounceMilliseconds) * 1_000_000
        let failure = "error the keypad was not scanned for \(2 * board.keypad.debounceMilliseconds) ms after the release"
        return condition.withLock {
            guard lastRelease != nil else { return "ok" }
            while upSeenSince.map({ lastRead < $0 + settled }) ?? true {
                if !condition.wait(until: deadline) { return failure }
            }
            let wholeScan = reads + board.keypad.columns.count + 1
            while reads < wholeScan {
                if !condition.wait(until: deadline) { return failure }
            }
            return "ok"
        }
    }

    private func drive(_ offsetList: String, _ levelText: String) -> String {
        let offsets = offsetList.split(separator: ",").compactMap { Int($0) }
        guard offsets.count == levelText.count else { return "error \(offsets.count) lines, \(levelText.count) levels" }
        for (offset, level) in zip(offsets, levelText) { levels[offset] = level == "1" }
        let d = board.display
        display.pins(rs: levels[d.rs.offset] ?? false, e: levels[d.e.offset] ?? false,
                     data: d.data.map { levels[$0.offset] ?? false }, now: now)
        return "OK"
    }

    private func read(_ offsetList: String) -> String {
        lastRead = now
        reads += 1
        if upSeenSince == nil, lastRelease != nil { upSeenSince = lastRead }
        let columns = board.keypad.columns.map { levels[$0.offset] ?? true }
        let rows = matrix.rowLevels(columnLevels: columns)
        let rowIndex = Dictionary(uniqueKeysWithValues: board.keypad.rows.enumerated().map { ($0.element.offset, $0.offset) })
        return String(offsetList.split(separator: ",").compactMap { Int($0) }.map { offset -> Character in
            let level = rowIndex[offset].map { rows[$0] } ?? levels[offset] ?? false
            return level ? "1" : "0"
        })
    }

    private func position(of label: String) -> KeypadMatrix.Position? {
        for (row, labels) in board.keypad.labels.enumerated() {
            if let column = labels.firstIndex(of: label) { return KeypadMatrix.Position(row: row, column: column) }
        }
        return nil
    }

    private func onOff(_ pin: BoardDefinition.Pin) -> String {
        (levels[pin.offset] ?? false) != (pin.activeLow ?? false) ? "on" : "off"
    }
}
