import ArgumentParser
import Foundation
import Hex
import LineServer
import VirtualCards

@main
struct VCard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vcard",
        abstract: "Simulated purse cards and PSAM behind pcscd's vpcd reader.",
        subcommands: [Personalise.self, Serve.self, Control.self])
}

struct Personalise: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a new state file for a test card or the test PSAM.")

    enum Kind: String, ExpressibleByArgument { case card1, card2, psam }

    @Argument(help: "card1 (CU, 3DES), card2 (TU, SM4) or psam.")
    var kind: Kind

    @Option(help: "State file to write.")
    var out: String

    @Option(help: "Answer form: direct, 61 or 6C.")
    var answerForm: String?

    @Option(help: "Card balance in fen.")
    var balance: UInt32?

    @Flag(help: "Card: leave 9F0C out of the FCI.")
    var no9F0C = false

    @Option(help: "Card: security authentication code (18 hex digits).")
    var authCode: String?

    func run() throws {
        let form = try answerForm.map { text -> AnswerForm in
            guard let form = AnswerForm(rawValue: text) else { throw ValidationError("answer form is direct, 61 or 6C") }
            return form
        }
        let file = URL(fileURLWithPath: out)
        if kind == .psam {
            var psam = PSAMState.testPSAM()
            if let form { psam.answerForm = form }
            try save(psam, to: file)
            return
        }
        var card = kind == .card1 ? PurseCardState.testCard1() : PurseCardState.testCard2()
        if let form { card.answerForm = form }
        if let balance { card.balance = balance }
        if no9F0C { card.fciHasApplicationInfo = false }
        if let authCode {
            guard let code = [UInt8](hex: authCode), code.count == 9 else { throw ValidationError("auth code is 18 hex digits") }
            card.authenticationCode = HexBytes(wrappedValue: code)
        }
        try save(card, to: file)
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a simulated card or PSAM into a vpcd reader slot and answer pcscd until stopped.")

    enum Kind: String, ExpressibleByArgument { case card, psam }

    @Argument(help: "card (a purse card) or psam.")
    var kind: Kind

    @Option(help: "State file from `vcard personalise` (rewritten after every change).")
    var state: String

    @Option(help: "vpcd slot: 0 (port 35963, the card reader) or 1 (port 35964, the PSAM reader).")
    var slot: Int

    @Option(help: "Unix socket for control commands (see `vcard control --help`).")
    var control: String?

    @Flag(help: "Start outside the field; `insert` presents it.")
    var absent = false

    @Option(help: ArgumentHelp("Fault the answers, drawn from this seed: truncated, extended, a bit flipped, another status word, "
                               + "replaced, none, the previous one again, late; the card acting on the command or not.",
                               valueName: "seed"))
    var faultSeed: UInt64?

    @Option(help: "With --fault-seed: the share of commands faulted, 0 to 1.")
    var faultRate = 0.05

    @Option(help: "With --fault-seed: file each fault is appended to, one line each (what was sent, what arrived, whether the card acted).")
    var faultLog: String?

    func validate() throws {
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate is a share of commands, 0 to 1") }
        if faultSeed == nil && faultLog != nil { throw ValidationError("--fault-log needs --fault-seed") }
    }

    func run() throws {
        let file = URL(fileURLWithPath: state)
        switch kind {
        case .card: try serve(SimulatedPurseCard(state: load(PurseCardState.self, from: file)))
        case .psam: try serve(SimulatedPSAM(state: load(PSAMState.self, from: file)))
        }
    }

    private func serve<Card: SimulatedCard>(_ card: Card) throws -> Never {
        unblockStopSignals()
        var card = card
        if let faultSeed {
            let log = try faultLog.map { path -> FileHandle in
                guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                    throw ValidationError("cannot write the fault log \(path)")
                }
                return handle
            }
            card.hooks.faults = AnswerFaults(seed: faultSeed, rate: faultRate) { record in
                let line = Data("vcard fault: \(record)\n".utf8)
                if let log { log.write(line) } else { FileHandle.standardOutput.write(line) }
            }
        }

        let host = VPCDHost(card: card, port: VPCDHost<Card>.port(forSlot: slot),
                            stateFile: URL(fileURLWithPath: state), present: !absent)
        if let control {
            try ControlServer(path: control) { handleControl($0, host: host) }.start()
        }
        host.start()
        // Unbuffered, so a parent waiting on this line sees it at once.
        FileHandle.standardOutput.write(Data("vcard: serving \(state) on vpcd slot \(slot)\(control.map { ", control \($0)" } ?? "")\n".utf8))
        while true { pause() }
    }
}

struct Control: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one command to a running simulator.",
        discussion: """
            Commands: insert, remove, state, tear debit|credit <n> before|after, untear.
            `tear debit 1 after` makes the next DEBIT commit and then lose power.
            """)

    @OptionGroup var arguments: ControlArguments


    func run() throws { try arguments.send() }
}
