import Foundation
import Journal
import LineServer
import Testing
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
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Board/boards/sim-16x2/board.json")
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

    @Test func cashierSaleFromTheKeypad() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let (socket, boardFile, board) = try Self.startBoardSimulator(in: bench.directory)
        let cashier = Process()
        cashier.executableURL = Self.binaries.appendingPathComponent("posd")
        cashier.arguments = ["cashier", "--board", boardFile.path, "--data-dir", bench.directory.appendingPathComponent("data").path]
        cashier.standardOutput = FileHandle.nullDevice
        try cashier.run()
        defer {
            // posd has no SIGTERM handling yet (the service work), and a test
            // runner's blocked signals are inherited: stop it outright.
            kill(cashier.processIdentifier, SIGKILL)
            cashier.waitUntilExit()
            board.terminate()
            board.waitUntilExit()
        }

        // The display is rewritten character by character: wait for whole screens.
        #expect(try Self.awaitScreen(socket, ["READY", "ENTER AMOUNT"], within: 10_000) == "ok READY|ENTER AMOUNT")
        var expected = ["0.02", "0.25", "2.50"]
        for key in ["2", "5", "0"] {
            #expect(try controlRequest(path: socket, "press \(key)") == "ok")
            let want = expected.removeFirst()
            #expect(try Self.awaitScreen(socket, ["AMOUNT", want], within: 5_000) == "ok AMOUNT|\(want)")
            #expect(try controlRequest(path: socket, "release \(key)") == "ok")
        }
        #expect(try controlRequest(path: socket, "press ENTER") == "ok")
        let result = try Self.awaitScreen(socket, ["APPROVED 2.50", "BALANCE 97.50"], within: 15_000)
        #expect(try controlRequest(path: socket, "release ENTER") == "ok")
        #expect(result == "ok APPROVED 2.50|BALANCE 97.50")
        #expect(try bench.cardState().balance == 9750)
        #expect(try controlRequest(path: socket, "signals").hasPrefix("ok green=on red=off"))
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        #expect(try journal.records(after: 0, limit: 10).map(\.record.amount) == [250])
    }
}
