import ArgumentParser
import Foundation

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
    FileHandle.standardOutput.write(Data("\(label) … ".utf8))
    do {
        let value = try body()
        FileHandle.standardOutput.write(Data("ok\n".utf8))
        return value
    } catch {
        FileHandle.standardOutput.write(Data("FAILED: \(error)\n".utf8))
        throw ExitCode(code)
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A progress bar on one line, redrawn in place (`\r`), for long work.
struct ProgressBar {
    let label: String
    let total: Int
    private var shown = -1

    init(_ label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    mutating func update(_ done: Int) {
        let percent = min(100, done * 100 / total)
        guard percent != shown else { return }
        shown = percent
        let filled = percent / 5
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled)
        FileHandle.standardOutput.write(Data("\r\(label) [\(bar)] \(percent)%".utf8))
        if percent == 100 { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }
}
