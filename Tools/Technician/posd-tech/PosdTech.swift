import ArgumentParser
import Glibc
import Posix

/// The technician's tool: install, flash, rescue journals, find faults.
@main
struct PosdTech: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "posd-tech",
        abstract: "Technician tool for posd terminals: provision, flash firmware, export the journal, diagnostics.",
        discussion: """
            Exit status, for scripts: 0 done; 1 a check failed (diagnostics found a fault); \
            65 the data does not match (the PSAM is another terminal's, a bundle fails \
            verification); 69 a device could not be reached; 73 a file could not be written; \
            75 refused for now (undelivered records: deliver or export first, or --force); \
            78 the configuration is invalid.
            """,
        subcommands: [Provision.self, Export.self, Diagnostics.self, BundleCommand.self, Flash.self, Boot.self, SelfTest.self])
}

enum TechExit {
    static let checkFailed: Int32 = 1
    static let dataMismatch: Int32 = 65
    static let unavailable: Int32 = 69
    static let cannotWrite: Int32 = 73
    static let refusedForNow: Int32 = 75
    static let configuration: Int32 = 78
}

/// One step of work, as a technician sees it: "label … ok" or "label … FAILED: why".
func step<T>(_ label: String, exit code: Int32, _ body: () throws -> T) throws -> T {
    try? FileDescriptor.standardOutput.writeAll("\(label) … ")
    do {
        let value = try body()
        try? FileDescriptor.standardOutput.writeAll("ok\n")
        return value
    } catch {
        try? FileDescriptor.standardOutput.writeAll("FAILED: \(error)\n")
        throw ExitCode(code)
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A progress bar on one line, redrawn in place (`\r`), for long work. Into
/// a pipe or a file (a script, a log) it is written twice, as it starts and
/// when done, each on a line of its own, not a hundred redraws.
struct ProgressBar {
    let label: String
    let total: Int
    private var shown = -1
    private let redraws = isatty(STDOUT_FILENO) == 1

    init(_ label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    mutating func update(_ done: Int) {
        let percent = min(100, done * 100 / total)
        guard percent != shown, redraws || shown < 0 || percent == 100 else { return }
        shown = percent
        let filled = percent / 5
        let line = "\(label) [\(String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled))] \(percent)%"
        try? FileDescriptor.standardOutput.writeAll(redraws ? "\r" + line + (percent == 100 ? "\n" : "") : line + "\n")
    }
}
