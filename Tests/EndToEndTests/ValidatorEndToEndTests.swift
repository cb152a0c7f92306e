import Foundation
import Journal
import LineServer
import Testing
import VirtualCards

/// `posd validator` on the simulated board: the fare and balance on the
/// decoded display, the green LED, the card charged from its state file.
extension PurchaseEndToEndTests {
    @Test func validatorShowsTheFareOnTheBoard() throws {
        let bench = try SimulatedTerminal(card: .testCard2())
        defer { try? bench.close() }
        let (socket, boardFile, board) = try Self.startBoardSimulator(in: bench.directory)
        defer {
            board.terminate()
            board.waitUntilExit()
        }
        let routeFile = bench.directory.appendingPathComponent("route.json")
        try JSONEncoder().encode(Self.route).write(to: routeFile)

        let data = bench.directory.appendingPathComponent("data").path
        let tapOn = try Self.run("posd", ["validator", "--board", boardFile.path, "--route", routeFile.path, "--line", "18", "--stop", "1",
                                          "--taps", "1", "--data-dir", data])
        #expect(tapOn.status == 0, "\(tapOn.stderr)")
        #expect(try Self.awaitScreen(socket, ["CHECKED IN", "BAL 50.00"], within: 5_000) == "ok CHECKED IN|BAL 50.00")
        #expect(try controlRequest(path: socket, "signals").hasPrefix("ok green=on red=off"))

        try bench.represent()
        let tapOff = try Self.run("posd", ["validator", "--board", boardFile.path, "--route", routeFile.path, "--line", "18", "--stop", "3",
                                           "--taps", "1", "--data-dir", data])
        #expect(tapOff.status == 0, "\(tapOff.stderr)")
        #expect(try Self.awaitScreen(socket, ["FARE 3.00", "BAL 47.00"], within: 5_000) == "ok FARE 3.00|BAL 47.00")
        #expect(try bench.cardState().balance == 4700)

        try bench.represent()
        // Another bus, flat fare: a transfer (2.00 less 1.00), then the same card again at once.
        let transfer = try Self.run("posd", ["validator", "--board", boardFile.path, "--line", "19", "--taps", "1", "--data-dir", data])
        #expect(transfer.status == 0)
        #expect(try Self.awaitScreen(socket, ["FARE 1.00", "BAL 46.00"], within: 5_000) == "ok FARE 1.00|BAL 46.00")
        try bench.represent()
        let again = try Self.run("posd", ["validator", "--board", boardFile.path, "--line", "19", "--taps", "1", "--data-dir", data])
        #expect(again.status == 1)
        #expect(try Self.awaitScreen(socket, ["REFUSED", "ALREADY CHECKED"], within: 5_000) == "ok REFUSED|ALREADY CHECKED")
        #expect(try controlRequest(path: socket, "signals").hasPrefix("ok green=off red=on"))
        #expect(try bench.cardState().balance == 4600)
        let journal = Journal(directory: URL(fileURLWithPath: data))
        #expect(try journal.records(after: 0, limit: 10).map(\.record.kind) == [.cappPurchase, .cappPurchase, .cappPurchase, .declined])
    }
}
