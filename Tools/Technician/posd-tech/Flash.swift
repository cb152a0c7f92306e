import ArgumentParser
import Crypto
import FirmwareBundle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Posix
import Hex
import Journal

/// The A/B layout under a root (`/opt/posd` on a terminal):
///
///     trusted-keys/*.pub   the vendor's public keys (hex)
///     a/, b/               firmware slots
///     current -> a         the slot systemd starts (a symlink)
///     slots.json           which slot is current, which waits for its self-test
///
/// Flashing writes only the inactive slot and marks it pending; `boot` (run
/// by systemd before posd starts) runs the pending slot's self-test and makes
/// it current only if it passes. The journal and the keys are never touched.
struct SlotState: Codable, Equatable {
    var current: String
    var pending: String?
    var currentVersion: String?
    var pendingVersion: String?
    var history: [String]

    static func url(_ root: URL) -> URL { root.appendingPathComponent("slots.json") }

    /// The slot the `current` link points at: what systemd starts (nil when
    /// there is no link, or it points at something that is not a slot).
    static func linked(_ root: URL) -> String? {
        let target = try? FileManager.default.destinationOfSymbolicLink(atPath: root.appendingPathComponent("current").path)
        return target == "a" || target == "b" ? target : nil
    }

    /// The state from slots.json, or, when it is missing, unreadable or
    /// names no valid slot, rebuilt from the `current` link (the truth of
    /// what runs; versions then unknown) with the reason, for the caller to
    /// report. Never the running slot mistaken for the free one.
    static func load(_ root: URL) -> (state: SlotState, rebuilt: String?) {
        let rebuilt = { (why: String) -> (SlotState, String?) in
            let current = linked(root) ?? "a"
            return (SlotState(current: current, pending: nil, currentVersion: nil, pendingVersion: nil,
                              history: ["slot state rebuilt from current -> \(current): \(why)"]),
                    "\(url(root).path) \(why): rebuilt from current -> \(current)")
        }
        guard let bytes = try? Data(contentsOf: url(root)) else {
            return FileManager.default.fileExists(atPath: url(root).path) ? rebuilt("unreadable")
                : linked(root) == nil ? (SlotState(current: "a", pending: nil, currentVersion: nil, pendingVersion: nil, history: []), nil)
                : rebuilt("missing")
        }
        guard let state = try? JSONDecoder().decode(SlotState.self, from: bytes), ["a", "b"].contains(state.current),
              state.pending.map({ $0 == state.inactive }) ?? true
        else { return rebuilt("damaged") }
        return (state, nil)
    }

    /// Atomic and durable: a power cut leaves the old state or the new one.
    func save(_ root: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeDurably(try encoder.encode(self), to: Self.url(root))
    }

    var inactive: String { current == "a" ? "b" : "a" }
}

/// Written beside, synced, renamed over, directory synced.
func writeDurably(_ bytes: Data, to url: URL) throws {
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).new")
    try bytes.write(to: temporary)
    try syncPath(temporary)
    guard rename(temporary.path, url.path) == 0 else { throw Failure("cannot rename into \(url.path)") }
    try syncPath(url.deletingLastPathComponent())
}

func syncPath(_ url: URL) throws {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { throw Failure("cannot open \(url.path)") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw Failure("cannot sync \(url.path)") }
}

struct Flash: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a signed firmware bundle and write it to the inactive slot; it becomes current after its self-test.",
        discussion: """
            Nothing is written unless the signature verifies against a trusted key and every file \
            matches the signed manifest. Refused while the journal holds undelivered records \
            (deliver them with posd sync, or export them) unless --force: a firmware that does \
            not start must not strand money. A bundle older than the running firmware (semantic \
            versions) is refused unless --allow-downgrade. Exit 0 flashed, 65 the bundle fails \
            verification, 73 the slot could not be written, 75 undelivered records or a downgrade.
            """)

    @Argument(help: "The bundle file.")
    var bundle: String

    @Option(help: "Firmware root holding the slots and the trusted keys.")
    var root = "/opt/posd"

    @Option(help: "Data directory of the terminal (to check for undelivered records).")
    var dataDir = "/var/lib/posd"

    @Flag(help: "Flash even though records are undelivered.")
    var force = false

    @Flag(help: "Install a version older than the one running (anti-rollback is otherwise enforced).")
    var allowDowngrade = false

    func run() throws {
        let rootURL = URL(fileURLWithPath: root), bundleURL = URL(fileURLWithPath: bundle)
        let keys = try step("reading the trusted keys", exit: TechExit.configuration) { () throws -> [Curve25519.Signing.PublicKey] in
            let directory = rootURL.appendingPathComponent("trusted-keys")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.filter { $0.hasSuffix(".pub") } ?? []
            let keys = try names.sorted().map { name in
                let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                guard let raw = [UInt8](hex: text.trimmingWhitespace) else { throw Failure("\(name) is not a key") }
                return try Curve25519.Signing.PublicKey(rawRepresentation: raw)
            }
            guard !keys.isEmpty else { throw Failure("no trusted keys in \(directory.path)") }
            return keys
        }
        let firmware = try step("verifying \(bundle)", exit: TechExit.dataMismatch) { () throws -> FirmwareBundle in
            let firmware = try FirmwareBundle(contentsOf: bundleURL)
            try firmware.verify(trustedKeys: keys, bundle: bundleURL)
            return firmware
        }
        // Read-only, and never created: a mistyped --data-dir is refused, not
        // given an empty journal. A journal in its fault state needs a
        // technician's attention (export, diagnostics) before anything else.
        let journal = try step("opening the journal in \(dataDir) read-only", exit: TechExit.refusedForNow) { () throws -> Journal in
            let journal = Journal(directory: URL(fileURLWithPath: dataDir), readOnly: true)
            if let fault = journal.fault { throw Failure("\(fault): nothing flashed (posd-tech diagnostics, export)") }
            return journal
        }
        if !force {
            try step("checking for undelivered records", exit: TechExit.refusedForNow) {
                let undelivered = journal.offlineExposure.records
                guard undelivered == 0 else { throw Failure("\(undelivered) records undelivered: deliver (posd sync) or export them first, or --force") }
            }
        }
        let (loaded, rebuilt) = SlotState.load(rootURL)
        var state = loaded
        if let rebuilt { print("note: \(rebuilt)") }
        // Boot saves the state and then re-points the link: cut between the
        // two, they disagree until the next boot, and the free slot is unknown.
        try step("checking which slot is running", exit: TechExit.refusedForNow) {
            if let running = SlotState.linked(rootURL), running != state.current {
                throw Failure("current -> \(running) but slots.json says \(state.current): run posd-tech boot (or restart posd) first")
            }
        }
        try step("checking the version against the running one", exit: TechExit.refusedForNow) {
            guard let offered = SemanticVersion(firmware.manifest.version) else {
                throw Failure("the bundle's version \(firmware.manifest.version) is not a semantic version (MAJOR.MINOR.PATCH)")
            }
            if !allowDowngrade, let running = state.currentVersion.flatMap(SemanticVersion.init), offered < running {
                throw Failure("version \(offered) is older than the running \(running): refused (--allow-downgrade to install it anyway)")
            }
        }
        let slot = state.inactive
        let staging = rootURL.appendingPathComponent("\(slot).partial"), target = rootURL.appendingPathComponent(slot)
        let total = firmware.manifest.files.map(\.size).reduce(0, +)
        var progress = ProgressBar("writing slot \(slot)", total: total)
        do {
            try? FileManager.default.removeItem(at: staging)
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            var written = 0
            try firmware.forEachFile(in: bundleURL) { file, chunks in
                let url = staging.appendingPathComponent(file.path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileDescriptor.withOpened(url.path, O_WRONLY | O_CREAT | O_TRUNC) { out in
                    // The manifest's mode exactly (open's would pass through the umask).
                    guard fchmod(out.rawValue, mode_t(file.mode & FirmwareBundle.allowedMode)) == 0 else { throw SystemError("chmod \(url.path)") }
                    var hash = SHA256()
                    try chunks { chunk in
                        try out.writeAll(chunk)
                        hash.update(data: chunk)
                        written += chunk.count
                        progress.update(written)
                    }
                    try out.sync()
                    guard Array(hash.finalize()).hex == file.sha256 else { throw FirmwareBundle.Invalid.tampered(file.path) }
                }
            }
            if total == 0 { progress.update(0) }
            try syncPath(staging)
            try? FileManager.default.removeItem(at: target)
            guard rename(staging.path, target.path) == 0 else { throw Failure("cannot move the new slot into place") }
            try syncPath(rootURL)
        } catch {
            print("\nFAILED writing slot \(slot): \(error) (the current slot \(state.current) is untouched)")
            throw ExitCode(TechExit.cannotWrite)
        }
        state.pending = slot
        state.pendingVersion = firmware.manifest.version
        try step("marking slot \(slot) to be tried at the next start", exit: TechExit.cannotWrite) { try state.save(rootURL) }
        print("flashed version \(firmware.manifest.version) into slot \(slot); it becomes current at the next start if its self-test passes")
    }
}

struct Boot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "At start (systemd ExecStartPre): try a newly flashed slot's self-test; make it current if it passes, else roll back.",
        discussion: "The self-test is the slot's posd-selftest, run with the slot as working directory; exit 0 marks the firmware good.")

    @Option(help: "Firmware root holding the slots.")
    var root = "/opt/posd"

    @Option(help: "Seconds the self-test may take (posd.service's TimeoutStartSec allows for it, the grace and posd's own start).")
    var selfTestSeconds = 60

    @Option(help: "Seconds between SIGTERM at the deadline and SIGKILL.")
    var selfTestGraceSeconds = 5

    func validate() throws {
        guard (1...600).contains(selfTestSeconds) else { throw ValidationError("--self-test-seconds must be 1 to 600") }
        guard (1...60).contains(selfTestGraceSeconds) else { throw ValidationError("--self-test-grace-seconds must be 1 to 60") }
    }

    func run() throws {
        let rootURL = URL(fileURLWithPath: root)
        let (loaded, rebuilt) = SlotState.load(rootURL)
        var state = loaded
        if let rebuilt {
            // A damaged state file must not stop the terminal: boot what runs, and say so.
            print("WARNING: \(rebuilt)")
            try state.save(rootURL)
        }
        if let pending = state.pending {
            let slot = rootURL.appendingPathComponent(pending)
            let passed = Self.selfTest(slot, seconds: selfTestSeconds, graceSeconds: selfTestGraceSeconds)
            let version = state.pendingVersion ?? "?"
            if passed {
                state.history.append("\(version) in slot \(pending): self-test passed, now current (was \(state.current) \(state.currentVersion ?? "?"))")
                state.current = pending
                state.currentVersion = version
                print("slot \(pending) (version \(version)) passed its self-test: now current")
            } else {
                state.history.append("\(version) in slot \(pending): self-test FAILED, rolled back to \(state.current)")
                print("slot \(pending) (version \(version)) FAILED its self-test: staying on slot \(state.current)")
            }
            state.pending = nil
            state.pendingVersion = nil
            try state.save(rootURL)
        }
        try Self.point(rootURL.appendingPathComponent("current"), at: state.current)
        print("current slot: \(state.current) (version \(state.currentVersion ?? "unknown"))")
    }

    /// Runs the slot's `posd-selftest` with the slot as working directory
    /// (`ChildProcess`: a process group of its own, signals at their
    /// defaults). It passes only by exiting 0 before the deadline: at the
    /// deadline the group gets SIGTERM, `graceSeconds` later SIGKILL, so no
    /// self-test can hang the boot, and one that answers SIGTERM by exiting 0
    /// has still failed.
    static func selfTest(_ slot: URL, seconds: Int, graceSeconds: Int) -> Bool {
        let test = slot.appendingPathComponent("posd-selftest")
        guard FileManager.default.isExecutableFile(atPath: test.path) else { return false }
        // The slot as working directory (glibc's addchdir is not imported):
        // boot does nothing else meanwhile, so the process's own cwd is used.
        let previous = FileManager.default.currentDirectoryPath
        guard FileManager.default.changeCurrentDirectoryPath(slot.path) else { return false }
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        return (try? ChildProcess.run(test.path, seconds: seconds, graceSeconds: graceSeconds)) == .exited(0)
    }

    /// `current` re-pointed atomically (a new symlink renamed over the old).
    static func point(_ link: URL, at slot: String) throws {
        let temporary = link.deletingLastPathComponent().appendingPathComponent(".current.new")
        unlink(temporary.path)
        guard symlink(slot, temporary.path) == 0, rename(temporary.path, link.path) == 0 else {
            throw Failure("cannot point \(link.path) at \(slot)")
        }
    }
}
