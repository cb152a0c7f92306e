import Foundation
import Journal
import LineServer
import Testing
import VirtualCards

/// The cashier terminal end to end: `posd cashier` on the simulated 16x2
/// board (keys pressed at the line level by `board-sim`, the display decoded
/// from its pins), the simulated card and PSAM behind pcscd.
extension PurchaseEndToEndTests {
    /// Polls the board's screen (a state, not a delay) until `done` holds.
    static func screen(_ socket: String, within seconds: Double, until done: ([String]) -> Bool) throws -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var rows: [String] = []
        repeat {
            rows = try controlRequest(path: socket, "screen").dropFirst(3).split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if done(rows) { return rows }
            Thread.sleep(forTimeInterval: 0.005)  // polling interval
        } while Date() < deadline
        return rows
    }

    @Test func cashierSaleFromTheKeypad() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let socket = bench.directory.appendingPathComponent("board.sock").path
        let boardFile = bench.directory.appendingPathComponent("board.json")
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
        #expect(try Self.screen(socket, within: 10) { $0 == ["READY", "ENTER AMOUNT"] } == ["READY", "ENTER AMOUNT"])
        var expected = ["0.02", "0.25", "2.50"]
        for key in ["2", "5", "0"] {
            #expect(try controlRequest(path: socket, "press \(key)") == "ok")
            let want = expected.removeFirst()
            #expect(try Self.screen(socket, within: 5) { $0 == ["AMOUNT", want] } == ["AMOUNT", want])
            #expect(try controlRequest(path: socket, "release \(key)") == "ok")
        }
        #expect(try controlRequest(path: socket, "press ENTER") == "ok")
        let approved = ["APPROVED 2.50", "BALANCE 97.50"]
        let result = try Self.screen(socket, within: 15) { $0 == approved }
        #expect(try controlRequest(path: socket, "release ENTER") == "ok")
        #expect(result == approved)
        #expect(try bench.cardState().balance == 9750)
        #expect(try controlRequest(path: socket, "signals").hasPrefix("ok green=on red=off"))
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        #expect(try journal.records(after: 0, limit: 10).map(\.record.amount) == [250])
    }
}
