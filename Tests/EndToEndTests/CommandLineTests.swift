import Foundation
import PCSC
import Testing
import TestSupport
import LineServer
import VirtualCards

/// The shipped binaries as a technician runs them: `vcard` processes behind
/// vpcd, steered over their control sockets, and `posd purchase --json`.
extension PurchaseEndToEndTests {
    static let binaries = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> Run {
        // Tests write only inside their own directories, never to /var/lib/posd.
        try PosdRun.checkSandboxed(tool: tool, arguments)
        let process = Process()
        process.executableURL = binaries.appendingPathComponent(tool)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Starts `vcard card|psam` and returns once it says it is serving.
    static func startSimulator(_ kind: String, state: URL, slot: Int, control: URL) throws -> Process {
        let process = Process()
        process.executableURL = binaries.appendingPathComponent("vcard")
        process.arguments = ["serve", kind, "--state", state.path, "--slot", "\(slot)", "--control", control.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        #expect(readLine(out.fileHandleForReading).hasPrefix("vcard: serving"))
        return process
    }

    @Test func posdAndVcardBinaries() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posd-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let card = dir.appendingPathComponent("card.json"), psam = dir.appendingPathComponent("psam.json")
        let cardControl = dir.appendingPathComponent("card.sock"), psamControl = dir.appendingPathComponent("psam.sock")
        #expect(try Self.run("vcard", ["personalise", "card2", "--out", card.path, "--answer-form", "61"]).status == 0)
        #expect(try Self.run("vcard", ["personalise", "psam", "--out", psam.path]).status == 0)
        let psamProcess = try Self.startSimulator("psam", state: psam, slot: 1, control: psamControl)
        let cardProcess = try Self.startSimulator("card", state: card, slot: 0, control: cardControl)
        defer {
            for process in [cardProcess, psamProcess] {
                process.terminate()
                process.waitUntilExit()
            }
        }

        let data = dir.appendingPathComponent("data")
        let approved = try Self.posd(["purchase", "--amount", "120", "--json"], dataDir: data)
        #expect(approved.status == 0, "\(approved.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(approved.stdout.utf8)) as? [String: Any]
        #expect(json?["result"] as? String == "approved")
        #expect(json?["balance_after"] as? Int == 4880)
        #expect(json?["card_no"] as? String == "8888000000000002")
        #expect(json?["terminal_seq"] as? Int == 1)
        #expect((json?["tac"] as? String)?.count == 8)
        #expect(try VirtualCards.load(PurseCardState.self, from: card).balance == 4880)

        let declined = try Self.posd(["purchase", "--amount", "999999", "--max-purchase", "1000000"], dataDir: data)
        #expect(declined.status == 1)
        #expect(declined.stdout.contains("insufficient balance"))

        // Take the card away: posd waits, then reports that no card came.
        #expect(try controlRequest(path: cardControl.path, "remove") == "ok")
        try PCSCContext().waitForRemoval(from: "Virtual PCD 00 00", timeoutMilliseconds: 10_000)
        let noCard = try Self.posd(["purchase", "--amount", "120", "--wait-seconds", "1"], dataDir: data)
        #expect(noCard.status == 69)
        #expect(noCard.stderr.contains("card in Virtual PCD 00 00"))

        #expect(try controlRequest(path: cardControl.path, "insert") == "ok")
        let balance = try Self.posd(["balance", "--json"], dataDir: data)
        #expect(balance.status == 0)
        #expect(balance.stdout.contains("\"balance\":4880"))
        let tap = try Self.run("posd", ["validator", "--line", "18", "--taps", "1", "--json", "--data-dir", dir.appendingPathComponent("bus").path])
        #expect(tap.status == 0, "\(tap.stderr)")
        #expect(tap.stdout.contains(#""amount":200"#) && tap.stdout.contains(#""balance_after":4680"#), "\(tap.stdout)")
        #expect(try controlRequest(path: cardControl.path, "state").hasPrefix("ok {"))
        #expect(try controlRequest(path: cardControl.path, "bogus").hasPrefix("error"))
    }

    /// `vcard serve --fault-seed`: every answer faulted, each fault logged
    /// with whether the card acted; the card's money moves only as posd says.
    @Test func vcardFaultsItsAnswersAndLogsThem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posd-faults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let card = dir.appendingPathComponent("card.json"), psam = dir.appendingPathComponent("psam.json")
        let faultLog = dir.appendingPathComponent("faults.log")
        #expect(try Self.run("vcard", ["personalise", "card1", "--out", card.path]).status == 0)
        #expect(try Self.run("vcard", ["personalise", "psam", "--out", psam.path]).status == 0)
        let absurd = try Self.run("vcard", ["serve", "card", "--state", card.path, "--slot", "0", "--fault-seed", "1", "--fault-rate", "2"])
        #expect(absurd.status != 0 && absurd.stderr.contains("--fault-rate"), "\(absurd.stderr)")
        let noSeed = try Self.run("vcard", ["serve", "card", "--state", card.path, "--slot", "0", "--fault-log", faultLog.path])
        #expect(noSeed.status != 0 && noSeed.stderr.contains("--fault-seed"), "\(noSeed.stderr)")

        let psamProcess = try Self.startSimulator("psam", state: psam, slot: 1, control: dir.appendingPathComponent("psam.sock"))
        let cardProcess = Process()
        cardProcess.executableURL = Self.binaries.appendingPathComponent("vcard")
        cardProcess.arguments = ["serve", "card", "--state", card.path, "--slot", "0", "--fault-seed", "7", "--fault-rate", "1",
                                 "--fault-log", faultLog.path]
        let out = Pipe()
        cardProcess.standardOutput = out
        try cardProcess.run()
        #expect(Self.readLine(out.fileHandleForReading).hasPrefix("vcard: serving"))
        defer {
            for process in [cardProcess, psamProcess] {
                process.terminate()
                process.waitUntilExit()
            }
        }
        let before = try VirtualCards.load(PurseCardState.self, from: card).balance
        let sale = try Self.posd(["purchase", "--amount", "100", "--wait-seconds", "3", "--json"], dataDir: dir.appendingPathComponent("data"))
        let result = (try? JSONSerialization.jsonObject(with: Data(sale.stdout.utf8)) as? [String: Any])?["result"] as? String
        let after = try VirtualCards.load(PurseCardState.self, from: card).balance
        let lines = try String(contentsOf: faultLog, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("vcard fault: command ") && $0.contains("card ") && $0.contains("delivered") },
                "\(lines.prefix(3))")
        // Approved, or uncertain (settled by recovery later): only then may the card have paid.
        if after != before { #expect(result == "approved" || result == "uncertain", "the card paid \(before - after), posd said \(sale.stdout)") }
        if result == "approved" { #expect(before - after == 100) }
    }
}
