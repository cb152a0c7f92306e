import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Posix
import Journal
import Settings

/// What a newly flashed slot must do on this device before it becomes
/// current: run from the slot (`boot` starts the slot's `posd-selftest`,
/// which `bundle build` writes as `exec ./posd-tech selftest`), with the
/// service stopped (boot runs before it). Exit 0 only if every check passes.
struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check a new firmware slot on this device: its binaries start, the journal opens read-only and verifies, the readers and the PSAM answer.",
        discussion: "Run by the slot's posd-selftest during posd-tech boot, in the slot's directory. Exit 0 when every check passes, 1 otherwise.")

    @Option(help: "Data directory of the terminal.")
    var dataDir = "/var/lib/posd"

    @Option(help: "The slot's directory (default: the working directory, as boot runs it).")
    var slot: String?

    func run() throws {
        let slot = URL(fileURLWithPath: slot ?? FileManager.default.currentDirectoryPath)
        let data = URL(fileURLWithPath: dataDir)
        var failed = false
        func check(_ name: String, _ body: () throws -> String) {
            do { print("ok     \(name): \(try body())") } catch {
                failed = true
                print("FAILED \(name): \(error)")
            }
        }
        for binary in ["posd", "posd-tech"] {
            check("\(binary) starts") { try Self.starts(slot.appendingPathComponent(binary)) }
        }
        check("journal") { try TerminalChecks.journal(Journal(directory: data, readOnly: true), in: data).0 }
        // Not provisioned yet (a first install): nothing to check the readers against.
        if let settings = try? TerminalSettings.load(from: data) {
            check("readers") { try TerminalChecks.readers(settings.cardReader, settings.psamReader) }
            check("PSAM") { try TerminalChecks.psam(settings.cardReader, settings.psamReader, provisioned: settings.terminalID).0 }
        }
        if failed { throw ExitCode(TechExit.checkFailed) }
    }

    /// The binary runs and answers `--help` with exit 0 within 10 s.
    static func starts(_ binary: URL) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw Failure("\(binary.lastPathComponent) missing or not executable") }
        let ending = try ChildProcess.run(binary.path, ["--help"], quiet: true, seconds: 10, graceSeconds: 1)
        guard ending == .exited(0) else { throw Failure("\(binary.lastPathComponent) --help ended with \(ending)") }
        return "\(binary.lastPathComponent) --help exits 0"
    }
}
