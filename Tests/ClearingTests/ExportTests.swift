import BenchSupport
import Foundation
import Journal
import Settings
import Testing
import TestSupport

/// A journal carried out on removable media: `posd-tech export`, then
/// `clearing-platform import`; nothing lost, nothing doubled, nothing marked
/// delivered until the platform has it, and a tampered file refused.
@Suite struct ExportTests {
    static func run(_ tool: String, _ arguments: [String]) throws -> PosdRun { try PosdRun.run(arguments, tool: tool) }

    @Test func exportThenImportLosesAndDoublesNothing() async throws {
        let dir = try TemporaryDirectory("posd-export")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        let records = SyntheticSales.records(1_234)
        try Journal(directory: data).append(contentsOf: records)
        try TerminalSettings(terminalID: terminalID, clearingURL: platform.url, mode: .cashier, board: nil,
                             cardReader: "Virtual PCD 00 00", psamReader: "Virtual PCD 00 01").save(in: data)
        try TerminalSettings.saveToken(platform.token, in: data)
        let file = dir.url.appendingPathComponent("usb-journal.posd")

        let export = try Self.run("posd-tech", ["export", "--data-dir", data.path, "--out", file.path])
        #expect(export.status == 0, "\(export.stdout)\(export.stderr)")
        #expect(export.stdout.contains("exported records 1–1234 (1234)"))
        #expect(!export.stdout.contains(platform.token))
        #expect(try Journal(directory: data).undeliveredCount == records.count, "exported is not delivered")

        // A changed amount and a truncated copy are refused before anything is stored.
        let bytes = try Data(contentsOf: file)
        let tampered = dir.url.appendingPathComponent("tampered.posd")
        let text = String(decoding: bytes, as: UTF8.self)
        let range = try #require(text.range(of: #""amount":100,"#))
        try Data(text.replacingCharacters(in: range, with: #""amount":900,"#).utf8).write(to: tampered)
        let refused = try Self.run("clearing-platform", ["import", "--db", platform.database.path, tampered.path])
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("MAC does not verify"), "\(refused.stderr)")
        let truncated = dir.url.appendingPathComponent("truncated.posd")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        #expect(try Self.run("clearing-platform", ["import", "--db", platform.database.path, truncated.path]).status == 65)
        #expect(try await platform.summary().records == 0)

        let first = try Self.run("clearing-platform", ["import", "--db", platform.database.path, file.path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("1234 accepted, 0 already held, 0 rejected"))
        let again = try Self.run("clearing-platform", ["import", "--db", platform.database.path, file.path])
        #expect(again.stdout.contains("0 accepted, 1234 already held, 0 rejected"), "importing twice changes nothing")

        // The terminal learns on its next sync that the platform has them all.
        let sync = try PosdRun.run(["sync"] + platform.posdArguments(dataDir: data))
        #expect(sync.status == 0)
        let summary = try await platform.summary()
        #expect(summary.records == records.count && summary.accepted == records.count)
        #expect(summary.debit_amount == SyntheticSales.debitTotal(records))
        #expect(try Journal(directory: data).undeliveredCount == 0)
    }
}
