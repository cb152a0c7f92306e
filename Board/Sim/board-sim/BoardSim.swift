import ArgumentParser
import BoardDefinition
import BoardModel
import Foundation
import LineServer

@main
struct BoardSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board-sim",
        abstract: "A simulated terminal board: keypad matrix, HD44780 display, LEDs and buzzer at the line level.",
        subcommands: [Serve.self, Control.self])

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the board for a board definition.")

        @Option(help: "Board definition (Board/boards/<name>/board.json).")
        var board: String

        @Option(help: "Unix socket for the drivers' lines and the control commands (default: the board's chip).")
        var socket: String?

        func run() throws {
            unblockStopSignals()
            let definition = try BoardDefinition.load(URL(fileURLWithPath: board))
            let simulated = SimulatedBoard(board: definition)
            let path = socket ?? definition.chip
            try ControlServer(path: path) { simulated.handle($0) }.start()
            FileHandle.standardOutput.write(Data("board-sim: \(definition.name) on \(path)\n".utf8))
            while true { pause() }
        }
    }

    struct Control: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send one command to a running board.",
            discussion: """
                Commands: press <key>, release <key>, release-all, screen, await-screen <ms> <rows>, \
                await-screen-prefix <ms> <rows>, await-released <ms>, signals. Hold two keys: press both. \
                Any line server answers it too (posd's vehicle feed: STOP, WHERE).
                """)

        @OptionGroup var arguments: ControlArguments


        func run() throws { try arguments.send() }
    }
}
