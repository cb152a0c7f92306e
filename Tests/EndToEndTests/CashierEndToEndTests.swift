import Foundation
import Journal
import LineServer
import Purse
import Terminal
import Testing
import TestSupport
import VirtualCards

/// The cashier terminal end to end: `posd cashier` on the simulated 16x2
/// board (keys pressed at the line level by `board-sim`, the display decoded
/// from its pins), the simulated card and PSAM behind pcscd.
extension PurchaseEndToEndTests {
    /// Waits (in the simulator, on its line changes) until the screen reads
    /// `rows`; returns the simulator's answer.
    static func awaitScreen(_ socket: String, _ rows: [String], within milliseconds: Int) throws -> String {
        try controlRequest(path: socket, "await-screen \(milliseconds) " + rows.joined(separator: "|"))
    }

    /// `board-sim` serving the shipped 16x2 board on a socket in `directory`;
    /// returns once it listens.
    static func startBoardSimulator(in directory: URL) throws -> (socket: String, boardFile: URL, process: Process) {
        let socket = directory.appendingPathComponent("board.sock").path
        let boardFile = directory.appendingPathComponent("board.json")
        let shipped = Repository.path("Board/boards/sim-16x2/board.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: shipped)) as! [String: Any]
        json["chip"] = socket
        try JSONSerialization.data(withJSONObject: json).write(to: boardFile)
        let board = Process()
        board.executableURL = Self.binaries.appendingPathComponent("board-sim")
        board.arguments = ["serve", "--board", boardFile.path]
        let boardOut = Pipe()
        board.standardOutput = boardOut
        try board.run()
        _ = Self.readLine(boardOut.fileHandleForReading)
        return (socket, boardFile, board)
    }

    /// `posd cashier` on board-sim with its journal in the bench's `data`;
    /// returns the board's socket and how to stop both.
    static func startCashier(_ bench: SimulatedTerminal, _ extra: [String] = []) throws -> (socket: String, stop: () -> Void) {
        let (socket, boardFile, board) = try startBoardSimulator(in: bench.directory)
        let cashier = Process()
        cashier.executableURL = binaries.appendingPathComponent("posd")
        cashier.arguments = ["cashier", "--board", boardFile.path, "--data-dir", bench.directory.appendingPathComponent("data").path] + extra
        cashier.standardOutput = FileHandle.nullDevice
        try cashier.run()
        return (socket, {
            // `posd cashier` runs until killed (the service handles SIGTERM), and
            // a test runner's blocked signals are inherited: stop it outright.
            kill(cashier.processIdentifier, SIGKILL)
            cashier.waitUntilExit()
            board.terminate()
            board.waitUntilExit()
        })
    }

    @Test func cashierSaleFromTheKeypad() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let (socket, stop) = try Self.startCashier(bench)
        defer { stop() }

        // The display is rewritten character by character: wait for whole screens.
        #expect(try Self.awaitScreen(socket, ["READY", "ENTER AMOUNT"], within: 10_000) == "ok READY|ENTER AMOUNT")
        for (key, amount) in [("2", "0.02"), ("5", "0.25"), ("0", "2.50")] {
            try Self.press(socket, key, until: ["AMOUNT", amount])
        }
        try Self.press(socket, "ENTER", until: ["APPROVED 2.50", "BALANCE 97.50"])
        #expect(try bench.cardState().balance == 9750)
        #expect(try controlRequest(path: socket, "signals").hasPrefix("ok green=on red=off"))
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        #expect(try journal.records(after: 0, limit: 10).map(\.record.amount) == [250])

        // Any key clears the result; a balance query shows the history the sale just wrote.
        try Self.press(socket, "CANCEL", until: ["READY", "ENTER AMOUNT"])
        try bench.represent()
        let today = String(BCDDateTime.now().description.dropFirst(4).prefix(4))
        try Self.press(socket, "BALANCE", until: ["BALANCE 97.50", "1 -2.50 \(today.prefix(2))-\(today.suffix(2))"])
        try Self.press(socket, "CANCEL", until: ["READY", "ENTER AMOUNT"])

        // A sale the card cannot pay, and one cancelled while typed: the card is untouched.
        // (No key twice in a row: a release shorter than the debounce time is a bounce, as it should be.)
        for (key, amount) in [("9", "0.09"), ("8", "0.98"), ("7", "9.87"), ("6", "98.76")] {
            try Self.press(socket, key, until: ["AMOUNT", amount])
        }
        try bench.represent()
        try Self.press(socket, "ENTER", until: ["DECLINED", "INSUFFICIENT BAL"])
        #expect(try controlRequest(path: socket, "signals").hasPrefix("ok green=off red=on"))
        try Self.press(socket, "CANCEL", until: ["READY", "ENTER AMOUNT"])
        try Self.press(socket, "5", until: ["AMOUNT", "0.05"])
        try Self.press(socket, "CANCEL", until: ["READY", "ENTER AMOUNT"])
        #expect(try bench.cardState().balance == 9750)
        #expect(try journal.records(after: 0, limit: 10).map(\.record.kind) == [.purchase, .declined])
    }

    /// The cashier's screen after a torn sale that recovery proves paid says
    /// it was approved (before the fix: "EARLIER SALE OK / 2.00 NOT CHARGED",
    /// and a cashier would charge the customer twice); and a card left on the
    /// reader is not charged by the next ENTER: that sale waits for it to be
    /// lifted and presented again.
    @Test func cashierTellsTheTruthAndChargesOncePerPresentation() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        bench.card.withCard { $0.armTear(.debit, nth: 1, .afterCommit) }
        let data = bench.directory.appendingPathComponent("data")
        let (socket, stop) = try Self.startCashier(bench, ["--card-wait-seconds", "20"])
        defer { stop() }
        #expect(try Self.awaitScreen(socket, ["READY", "ENTER AMOUNT"], within: 10_000) == "ok READY|ENTER AMOUNT")
        for (key, amount) in [("2", "0.02"), ("0", "0.20"), ("0", "2.00"), ("0", "20.00"), ("BACK", "2.00")] {
            try Self.press(socket, key, until: ["AMOUNT", amount])
        }
        let presenter = Self.representAfterEachTear(bench, times: 1)
        try Self.press(socket, "ENTER", until: ["APPROVED 2.00", "BALANCE 98.00"])
        #expect(presenter.wait(timeout: .now() + 30) == .success)
        #expect(try controlRequest(path: socket, "signals").hasPrefix("ok green=on red=off"))
        #expect(try bench.cardState().balance == 9800, "debited once")
        let journal = Journal(directory: data)
        #expect(try journal.records(after: 0, limit: 10).map(\.record.recovered) == [true])

        // The card stays on the reader: the next sale waits for it to be lifted.
        try Self.press(socket, "CANCEL", until: ["READY", "ENTER AMOUNT"])
        for (key, amount) in [("1", "0.01"), (".", "1.")] {
            try Self.press(socket, key, until: ["AMOUNT", amount])
        }
        try Self.press(socket, "ENTER", until: ["LIFT LAST CARD", "AGAIN FOR 1.00"])
        #expect(try bench.cardState().balance == 9800, "the card left on the reader is not charged again")
        try bench.represent()
        #expect(try Self.awaitScreen(socket, ["APPROVED 1.00", "BALANCE 97.00"], within: 10_000) == "ok APPROVED 1.00|BALANCE 97.00")
        #expect(try bench.cardState().balance == 9700)
    }

    /// A key pressed at the line level and held until the screen shows its effect, then released.
    /// Presses `key` once the last key released has been seen up, and holds
    /// it down, as a finger does, until the screen shows `rows` (or, with
    /// `prefixes`, rows that begin so).
    static func press(_ socket: String, _ key: String, until rows: [String], prefixes: Bool = false) throws {
        #expect(try controlRequest(path: socket, "await-released 10000") == "ok", "the keypad is scanned before \(key)")
        #expect(try controlRequest(path: socket, "press \(key)") == "ok")
        let shown = try controlRequest(path: socket, (prefixes ? "await-screen-prefix" : "await-screen") + " 10000 " + rows.joined(separator: "|"))
        #expect(shown.hasPrefix("ok "), "after \(key): \(shown), wanted \(rows)")
        #expect(try controlRequest(path: socket, "release \(key)") == "ok")
    }
}
