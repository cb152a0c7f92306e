import ArgumentParser
import ClearingAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Journal
import Settings
import StoreAndForward

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the undelivered records (or all) to a file for the platform, when no network exists.",
        discussion: """
            The file is the platform's upload request with a header carrying a MAC under this \
            terminal's token, so the platform can check it came from this terminal untouched. \
            Nothing is marked delivered: records stay undelivered until the platform has them \
            (its import, then the next sync, answers them as duplicates). Works on a journal in \
            its fault state too: every readable record is exported.
            """)

    @Option(help: "Data directory of the terminal.")
    var dataDir = "/var/lib/posd"

    @Option(help: "File to write (on the removable medium).")
    var out: String

    @Flag(help: "Export every record, delivered or not.")
    var all = false

    func run() throws {
        let data = URL(fileURLWithPath: dataDir)
        let settings = try step("reading the terminal's settings", exit: TechExit.configuration) { () throws -> TerminalSettings in
            guard let settings = try TerminalSettings.load(from: data) else { throw Failure("the terminal is not provisioned") }
            return settings
        }
        let token = try step("reading the token", exit: TechExit.configuration) {
            try String(contentsOf: TerminalSettings.tokenURL(in: data), encoding: .utf8).trimmingWhitespace
        }
        // Read-only: an export may run beside the live terminal, and never changes the journal.
        let journal = Journal(directory: data, readOnly: true)
        if let fault = journal.fault { print("note: the journal is in its fault state (\(fault)); exporting what it holds") }
        let total = all ? ((try? journal.lastSeq) ?? 0) : journal.offlineExposure.records
        var progress = ProgressBar("reading records", total: total)
        var records: [WireRecord] = []
        var after = 0
        while true {
            let page: [StoredRecord]
            do {
                page = all ? try journal.records(after: after, limit: 1000) : try journal.undelivered(after: after, limit: 1000)
            } catch {
                print("\njournal unreadable after record \(after): \(error)")
                throw ExitCode(TechExit.unavailable)
            }
            guard let last = page.last else { break }
            records += page.map(WireRecord.init)
            after = last.record.seq
            progress.update(records.count)
        }
        if records.isEmpty { progress.update(total) }
        let export = try JournalExport(terminalID: settings.terminalID, records: records, token: token)
        try step("writing \(records.count) records to \(out)", exit: TechExit.cannotWrite) {
            // A medium pulled too early holds the old file or the whole new one.
            try writeDurably(export.bytes, to: URL(fileURLWithPath: out))
        }
        print("exported records \(export.header.firstSeq)–\(export.header.lastSeq) (\(records.count)); they stay undelivered until the platform has them")
    }
}
