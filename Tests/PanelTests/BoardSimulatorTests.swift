import BoardDefinition
import Foundation
import LineIO
import LineServer
import Panel
import SimLink
import Testing

/// The drivers against the `board-sim` process, through `SimLink`, in real
/// time: the same code that drives a libgpiod chip on the terminal.
@Suite(.serialized) struct BoardSimulatorTests {
    static let boardFile = BoardDefinitionTests.boards.appendingPathComponent("sim-16x2/board.json")

    /// Starts `board-sim serve` and returns once it says it is listening.
    static func startSimulator(socket: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("board-sim")
        process.arguments = ["serve", "--board", boardFile.path, "--socket", socket]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        return process
    }

    @Test func driversOverTheSocket() throws {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("board-\(UUID().uuidString.prefix(8)).sock").path
        let simulator = try Self.startSimulator(socket: socket)
        defer {
            simulator.terminate()
            simulator.waitUntilExit()
        }
        let board = try BoardDefinition.load(Self.boardFile)
        let lines = LogicalLines(port: try SimLink(socketPath: socket, specs: board.lineSpecs), specs: board.lineSpecs)
        let clock = SystemClock()
        let pins = board.allPins
        func index(_ role: String) -> Int { pins.firstIndex { $0.role == role }! }

        let display = HD44780(lines: lines, pins: .init(rs: index("display RS"), e: index("display E"),
                                                        data: (4...7).map { index("display D\($0)") }), clock: clock)
        try display.initialize()
        try display.show(["AMOUNT", "  12.50"])
        let screen = try controlRequest(path: socket, "screen")
        let rows = ["AMOUNT", "  12.50"].map { $0.padding(toLength: 16, withPad: " ", startingAt: 0) }
        #expect(screen == "ok " + rows.joined(separator: "|"))

        let keypad = MatrixKeypad(lines: lines, rows: (0..<4).map { index("keypad row \($0)") },
                                  columns: (0..<4).map { index("keypad column \($0)") }, labels: board.keypad.labels, clock: clock,
                                  timing: .init(settle: 5_000, debounce: 20_000_000))
        #expect(try controlRequest(path: socket, "press 5") == "ok")
        var events: [MatrixKeypad.Event] = []
        let deadline = clock.nanoseconds + 200_000_000
        while clock.nanoseconds < deadline && events.isEmpty { events += try keypad.poll() }
        #expect(events == [.down("5")])

        try lines.write([index("green LED")], [true])
        #expect(try controlRequest(path: socket, "signals") == "ok green=on red=off buzzer=off")
    }
}
