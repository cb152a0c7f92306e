import LineIO

/// A matrix keypad scanned and debounced in our code: each column is driven
/// active in turn and the rows read after a settle time; a key changes state
/// only after its new state has held for the debounce time. When the pressed
/// keys form three corners of a rectangle the matrix cannot tell whether the
/// fourth is pressed too (a ghost), so the scan reports the ambiguity and
/// takes no new key until it clears.
public final class MatrixKeypad {
    public enum Event: Hashable, Sendable {
        case down(String)
        case up(String)
        /// Keys that cannot be told apart; nothing is pressed on their account.
        case ambiguous([String])
    }

    public struct Timing: Codable, Equatable, Sendable {
        public var settle: UInt64
        public var debounce: UInt64
        public init(settle: UInt64 = 5_000, debounce: UInt64 = 20_000_000) {
            self.settle = settle
            self.debounce = debounce
        }
    }

    let lines: LogicalLines
    let rows: [Int]
    let columns: [Int]
    /// Labels by row then column.
    let labels: [[String]]
    let clock: any PanelClock
    let timing: Timing

    private struct Key: Hashable { var row: Int, column: Int }
    private var raw: Set<Key> = []
    private var changedAt: [Key: UInt64] = [:]
    private var stable: Set<Key> = []
    private var ambiguous = false

    public init(lines: LogicalLines, rows: [Int], columns: [Int], labels: [[String]], clock: any PanelClock, timing: Timing = Timing()) {
        precondition(labels.count == rows.count && labels.allSatisfy { $0.count == columns.count }, "a label for every key")
        self.lines = lines
        self.rows = rows
        self.columns = columns
        self.labels = labels
        self.clock = clock
        self.timing = timing
    }

    /// One scan, then the debounced events it completes.
    public func poll() throws -> [Event] {
        let now = clock.nanoseconds
        let seen = try scan()
        var events: [Event] = []

        let ghost = Self.ghosting(seen)
        if ghost != ambiguous {
            ambiguous = ghost
            if ghost { events.append(.ambiguous(seen.map { labels[$0.row][$0.column] }.sorted())) }
        }
        for key in seen.symmetricDifference(raw) { changedAt[key] = now }
        raw = seen
        for (key, since) in changedAt where now - since >= timing.debounce {
            let pressed = raw.contains(key)
            changedAt[key] = nil
            if pressed && !stable.contains(key) && !ambiguous {
                stable.insert(key)
                events.append(.down(labels[key.row][key.column]))
            } else if !pressed && stable.contains(key) {
                stable.remove(key)
                events.append(.up(labels[key.row][key.column]))
            }
        }
        return events
    }

    private func scan() throws -> Set<Key> {
        var pressed: Set<Key> = []
        for (c, column) in columns.enumerated() {
            try lines.write(columns, columns.map { $0 == column })
            clock.wait(nanoseconds: timing.settle)
            for (r, active) in try lines.read(rows).enumerated() where active {
                pressed.insert(Key(row: r, column: c))
            }
        }
        try lines.write(columns, columns.map { _ in false })
        return pressed
    }

    /// Three corners of a rectangle pressed (some key has another in its row
    /// and another in its column): the fourth corner reads pressed too.
    private static func ghosting(_ keys: Set<Key>) -> Bool {
        keys.contains { a in
            keys.contains { $0.row == a.row && $0.column != a.column }
                && keys.contains { $0.column == a.column && $0.row != a.row }
        }
    }
}
