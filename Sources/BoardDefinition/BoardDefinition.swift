#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LineIO

/// A terminal board as data (`Board/boards/<name>/board.json`): where the
/// keypad, display, LED and buzzer are wired, their polarity and timings, and
/// the PC/SC reader names. Loaded at start and checked before anything is driven.
public struct BoardDefinition: Codable, Equatable, Sendable {
    public struct Pin: Codable, Equatable, Sendable {
        public var offset: Int
        public var activeLow: Bool?
    }

    public struct Keypad: Codable, Equatable, Sendable {
        public var rows: [Pin]
        public var columns: [Pin]
        /// Key labels by row, then column.
        public var labels: [[String]]
        public var settleMicroseconds: Int
        public var debounceMilliseconds: Int
    }

    public struct Display: Codable, Equatable, Sendable {
        public var columns: Int
        public var rows: Int
        public var rs: Pin
        public var e: Pin
        /// D4, D5, D6, D7.
        public var data: [Pin]
        public var enablePulseNanoseconds: Int?
    }

    public struct Readers: Codable, Equatable, Sendable {
        public var card: String
        public var psam: String

        public init(card: String, psam: String) {
            self.card = card
            self.psam = psam
        }
    }

    /// The bench's readers: vpcd's two slots, as both shipped simulated
    /// boards name them. The one place they are written outside board files,
    /// for the bench's one-shot commands run without a board or a
    /// provisioned terminal; a terminal's readers are its board's.
    public static let benchReaders = Readers(card: "Virtual PCD 00 00", psam: "Virtual PCD 00 01")

    public enum Lines: String, Codable, Sendable {
        /// libgpiod on the terminal.
        case gpiod
        /// The board simulator, over its Unix socket.
        case simulated
    }

    public var name: String
    public var lines: Lines
    /// The gpiochip name (gpiod) or the simulator's socket path (simulated).
    public var chip: String
    public var readers: Readers
    public var keypad: Keypad
    public var display: Display
    public var ledGreen: Pin
    public var ledRed: Pin
    public var buzzer: Pin

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Reads and checks a board file; every problem is named in one error.
    public static func load(_ url: URL) throws -> BoardDefinition {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw Invalid(description: "board file \(url.path) cannot be read")
        }
        return try parse(data, file: url.path)
    }

    /// Checks the bytes of a board file (`file` names it in errors).
    public static func parse(_ data: Data, file: String) throws(Invalid) -> BoardDefinition {
        let board: BoardDefinition
        do { board = try JSONDecoder().decode(BoardDefinition.self, from: data) } catch let DecodingError.keyNotFound(key, context) {
            throw Invalid(description: "board file \(file): missing \"\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))\"")
        } catch {
            throw Invalid(description: "board file \(file) is not a board definition: \(error)")
        }
        let problems = board.problems
        guard problems.isEmpty else {
            throw Invalid(description: "board \(board.name): " + problems.joined(separator: "; "))
        }
        return board
    }

    /// Every key label posd acts on.
    public static let knownKeys: Set<String> = Set((0...9).map(String.init)).union(["00", ".", "BACK", "CANCEL", "ENTER", "BALANCE", "MENU"])
    /// What a cashier's keypad must have: digits, correction, the menu.
    public static let cashierKeys: Set<String> = Set((0...9).map(String.init)).union(["BACK", "CANCEL", "ENTER", "BALANCE", "MENU"])

    /// The keys a cashier needs that this keypad lacks, in a stable order (empty when none).
    public var missingCashierKeys: [String] {
        Self.cashierKeys.subtracting(keypad.labels.flatMap { $0 }).sorted()
    }

    /// What is wrong with this definition (empty when nothing).
    public var problems: [String] {
        var problems: [String] = []
        for label in keypad.labels.flatMap({ $0 }) where !Self.knownKeys.contains(label) {
            problems.append("keypad key \"\(label)\" is not one posd knows (\(Self.knownKeys.sorted().joined(separator: " ")))")
        }
        if keypad.labels.count != keypad.rows.count || keypad.labels.contains(where: { $0.count != keypad.columns.count }) {
            problems.append("keypad labels must be \(keypad.rows.count) rows of \(keypad.columns.count)")
        }
        if Set(keypad.labels.flatMap { $0 }).count != keypad.labels.flatMap({ $0 }).count {
            problems.append("keypad labels must be unique")
        }
        if display.data.count != 4 { problems.append("display needs 4 data pins (D4-D7), has \(display.data.count)") }
        if ![[16, 2], [20, 4]].contains([display.columns, display.rows]) {
            problems.append("display \(display.columns)x\(display.rows) is not 16x2 or 20x4")
        }
        if keypad.debounceMilliseconds < 1 || keypad.debounceMilliseconds > 200 {
            problems.append("keypad debounce \(keypad.debounceMilliseconds) ms is outside 1-200")
        }
        let offsets = allPins.map(\.pin.offset)
        for offset in Set(offsets) where offsets.filter({ $0 == offset }).count > 1 {
            let users = allPins.filter { $0.pin.offset == offset }.map(\.role)
            problems.append("line \(offset) is used by \(users.joined(separator: " and "))")
        }
        if offsets.contains(where: { $0 < 0 }) { problems.append("line offsets cannot be negative") }
        return problems
    }

    /// Every line with its role and direction, in request order.
    public var allPins: [(role: String, pin: Pin, direction: LineSpec.Direction)] {
        keypad.rows.enumerated().map { ("keypad row \($0.offset)", $0.element, .input) }
            + keypad.columns.enumerated().map { ("keypad column \($0.offset)", $0.element, .output) }
            + [("display RS", display.rs, .output), ("display E", display.e, .output)]
            + display.data.enumerated().map { ("display D\($0.offset + 4)", $0.element, .output) }
            + [("green LED", ledGreen, .output), ("red LED", ledRed, .output), ("buzzer", buzzer, .output)]
    }

    /// The lines to request, in `allPins` order.
    public var lineSpecs: [LineSpec] {
        allPins.map { LineSpec(chip: chip, offset: $0.pin.offset, direction: $0.direction, activeLow: $0.pin.activeLow ?? false) }
    }
}
