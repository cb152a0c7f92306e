import BenchSupport
import Crypto
import Foundation
import Journal
import Testing
import TestSupport

/// Firmware bundles end to end with the `posd-tech` binary: keygen, build,
/// sign, flash into the inactive slot, self-test at the next start; and every
/// way it must refuse or roll back.
@Suite struct FlashTests {
    struct Bench {
        let dir: TemporaryDirectory
        var root: URL { dir.url.appendingPathComponent("opt-posd") }
        var data: URL { dir.url.appendingPathComponent("data") }
        var key: URL { dir.url.appendingPathComponent("vendor.key") }

        init() throws {
            dir = try TemporaryDirectory("posd-flash")
            try FileManager.default.createDirectory(at: root.appendingPathComponent("trusted-keys"), withIntermediateDirectories: true)
            #expect(try tech(["bundle", "keygen", "--out", key.path]).status == 0)
            try FileManager.default.copyItem(at: URL(fileURLWithPath: key.path + ".pub"),
                                            to: root.appendingPathComponent("trusted-keys/vendor.pub"))
            #expect(Journal(directory: data).fault == nil, "the terminal's journal")
        }

        func tech(_ arguments: [String]) throws -> PosdRun { try PosdRun.run(arguments, tool: "posd-tech") }

        /// A signed bundle of a firmware file of `size` bytes and a self-test exiting `selfTest`.
        func bundle(_ version: String, size: Int = 4096, selfTest: Int32 = 0, selfTestScript: String? = nil,
                    key signingKey: URL? = nil) throws -> URL {
            let files = dir.url.appendingPathComponent("files-\(version)")
            try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
            let firmware = files.appendingPathComponent("posd")
            // Each version's bytes its own, so a test can tell which one a slot holds.
            try (Data("posd \(version)\n".utf8) + Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })).write(to: firmware)
            let test = files.appendingPathComponent("posd-selftest")
            try "#!/bin/sh\n\(selfTestScript ?? "exit \(selfTest)")\n".write(to: test, atomically: true, encoding: .utf8)
            chmod(test.path, 0o755)
            let out = dir.url.appendingPathComponent("posd-\(version).bundle")
            #expect(try tech(["bundle", "build", "--version", version, "--out", out.path, firmware.path, test.path]).status == 0)
            #expect(try tech(["bundle", "sign", "--key", (signingKey ?? key).path, out.path]).status == 0)
            return out
        }

        func flash(_ bundle: URL, _ extra: [String] = []) throws -> PosdRun {
            try tech(["flash", bundle.path, "--root", root.path, "--data-dir", data.path] + extra)
        }

        func boot(_ extra: [String] = []) throws -> PosdRun { try tech(["boot", "--root", root.path] + extra) }

        func state() throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("slots.json"))) as? [String: Any] ?? [:]
        }

        var currentTarget: String? { try? FileManager.default.destinationOfSymbolicLink(atPath: root.appendingPathComponent("current").path) }
    }

    @Test func flashSelfTestAndSwitch() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        let flashed = try bench.flash(try bench.bundle("1.1.0"))
        #expect(flashed.status == 0, "\(flashed.stdout)")
        #expect(flashed.stdout.contains("flashed version 1.1.0 into slot b"))
        #expect(try bench.state()["pending"] as? String == "b")
        #expect(try bench.boot().stdout.contains("slot b (version 1.1.0) passed its self-test: now current"))
        #expect(bench.currentTarget == "b")
        #expect(try bench.state()["current"] as? String == "b")

        // The next version goes to the other slot, and a failing self-test rolls back.
        #expect(try bench.flash(try bench.bundle("1.2.0", selfTest: 1)).status == 0)
        let boot = try bench.boot()
        #expect(boot.stdout.contains("slot a (version 1.2.0) FAILED its self-test: staying on slot b"))
        #expect(bench.currentTarget == "b")
        #expect(try bench.state()["pending"] == nil)
        #expect((try bench.state()["history"] as? [String])?.last?.contains("rolled back") == true)
    }

    /// Anti-rollback: versions compare as semantic versions (1.10.0 is newer
    /// than 1.9.0, a release newer than its release candidate); an older
    /// bundle is refused with nothing written unless --allow-downgrade.
    @Test func anOlderBundleIsRefusedUnlessDowngradeIsAllowed() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        #expect(try bench.flash(try bench.bundle("1.10.0")).status == 0)
        #expect(try bench.boot().status == 0)
        #expect(try bench.state()["currentVersion"] as? String == "1.10.0")

        for older in ["1.9.0", "1.10.0-rc.1"] {
            let refused = try bench.flash(try bench.bundle(older))
            #expect(refused.status == 75, "\(older): \(refused.stdout)")
            #expect(refused.stdout.contains("version \(older) is older than the running 1.10.0"), "\(refused.stdout)")
            #expect(try bench.state()["pending"] == nil, "\(older): nothing written")
        }
        #expect(try bench.flash(try bench.bundle("1.10.1")).status == 0, "a newer one goes in")
        #expect(try bench.flash(try bench.bundle("1.9.0"), ["--allow-downgrade"]).status == 0, "a downgrade when asked for")

        let unversioned = try bench.tech(["bundle", "build", "--version", "banana", "--out", bench.dir.url.appendingPathComponent("x.bundle").path,
                                          bench.key.path])
        #expect(unversioned.status == 64 && unversioned.stderr.contains("not a semantic version"), "\(unversioned.stderr)")
    }

    @Test func tamperedWrongKeyAndTruncatedBundlesWriteNothing() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        let good = try bench.bundle("2.0.0", size: 100_000)
        var bytes = try Data(contentsOf: good)

        let tampered = bench.dir.url.appendingPathComponent("tampered.bundle")
        bytes[bytes.count - 500] ^= 0x40
        try bytes.write(to: tampered)
        let refusedTampered = try bench.flash(tampered)
        #expect(refusedTampered.status == 65)
        #expect(refusedTampered.stdout.contains("does not match its hash in the signed manifest"))

        bytes = try Data(contentsOf: good)
        let truncated = bench.dir.url.appendingPathComponent("truncated.bundle")
        try bytes.prefix(bytes.count - 1000).write(to: truncated)
        let refusedTruncated = try bench.flash(truncated)
        #expect(refusedTruncated.status == 65)
        #expect(refusedTruncated.stdout.contains("truncated"))

        let otherKey = bench.dir.url.appendingPathComponent("stranger.key")
        #expect(try bench.tech(["bundle", "keygen", "--out", otherKey.path]).status == 0)
        let foreign = try bench.bundle("2.0.1", key: otherKey)
        let refusedForeign = try bench.flash(foreign)
        #expect(refusedForeign.status == 65)
        #expect(refusedForeign.stdout.contains("does not verify against any trusted key"))

        for name in ["a", "b", "b.partial", "slots.json"] {
            #expect(!FileManager.default.fileExists(atPath: bench.root.appendingPathComponent(name).path), "\(name) written")
        }
    }

    @Test func undeliveredRecordsRefuseTheFlashUnlessForced() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        try Journal(directory: bench.data).append(contentsOf: SyntheticSales.records(3, terminalID: terminalID))
        let bundle = try bench.bundle("3.0.0")
        let refused = try bench.flash(bundle)
        #expect(refused.status == 75)
        #expect(refused.stdout.contains("3 records undelivered"))
        #expect(try bench.flash(bundle, ["--force"]).status == 0)
        #expect(try Journal(directory: bench.data).undeliveredCount == 3, "the journal is never touched")
    }

    /// Flash opens the journal read-only and never creates one: a mistyped
    /// data directory and a journal in its fault state are refused before a
    /// slot is written, and a successful flash leaves the journal's bytes as
    /// they were (before the fix it opened the journal for writing, creating
    /// an empty one in a mistyped directory, and flashed over a faulty one).
    @Test func flashNeverCreatesOrWritesTheJournal() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        let bundle = try bench.bundle("5.0.0")
        let mistyped = bench.dir.url.appendingPathComponent("dta")
        let refused = try bench.tech(["flash", bundle.path, "--root", bench.root.path, "--data-dir", mistyped.path, "--force"])
        #expect(refused.status == 75 && refused.stdout.contains("no journal in"), "\(refused.stdout)")
        #expect(!FileManager.default.fileExists(atPath: mistyped.path), "nothing created in the mistyped directory")

        // A journal whose identity marker names another journal is in its fault state.
        let marker = bench.data.appendingPathComponent(Journal.markerName)
        let identity = try Data(contentsOf: marker)
        try Data("00000000-0000-0000-0000-000000000000\n".utf8).write(to: marker)
        let faulty = try bench.flash(bundle, ["--force"])
        #expect(faulty.status == 75 && faulty.stdout.contains("journal"), "\(faulty.stdout)")
        #expect(!FileManager.default.fileExists(atPath: bench.root.appendingPathComponent("b").path), "no slot written")
        try identity.write(to: marker)

        let database = bench.data.appendingPathComponent(Journal.databaseName)
        let before = try Data(contentsOf: database)
        #expect(try bench.flash(bundle).status == 0)
        #expect(try Data(contentsOf: database) == before, "the journal's bytes are untouched")
    }

    /// Power cut while the slot is written: the current slot and the state are untouched.
    @Test func killedWhileWritingLeavesTheCurrentSlot() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        #expect(try bench.flash(try bench.bundle("4.0.0")).status == 0)
        #expect(try bench.boot().status == 0)  // current: b
        let before = try Data(contentsOf: bench.root.appendingPathComponent("slots.json"))
        let big = try bench.bundle("4.1.0", size: 64 << 20)

        let process = Process()
        process.executableURL = binaries.appendingPathComponent("posd-tech")
        process.arguments = ["flash", big.path, "--root", bench.root.path, "--data-dir", bench.data.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        // Killed once it reports writing the slot (its progress bar has started).
        var seen = ""
        while !seen.contains("writing slot a [") {
            guard let chunk = try out.fileHandleForReading.read(upToCount: 64), !chunk.isEmpty else { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "killed mid-write: \(seen)")

        #expect(try Data(contentsOf: bench.root.appendingPathComponent("slots.json")) == before)
        #expect(try bench.boot().stdout.contains("current slot: b (version 4.0.0)"))
        #expect(bench.currentTarget == "b")
        // The next flash starts the slot afresh and completes.
        let completed = try bench.flash(big)
        #expect(completed.status == 0)
        // Into a pipe the bar is written as it starts and when done, not redrawn a hundred times.
        let bars = completed.stdout.split(separator: "\n").filter { $0.hasPrefix("writing slot a [") }
        #expect(bars.count == 2 && bars.last?.hasSuffix("[####################] 100%") == true && !completed.stdout.contains("\r"),
                "\(completed.stdout)")
        #expect(try bench.boot().stdout.contains("slot a (version 4.1.0) passed its self-test"))
    }

    /// The self-test's deadline holds whatever the self-test does, and
    /// whatever signal mask boot inherited (a test runner blocks SIGTERM, as
    /// the one before the fix did not undo): it runs in its own process
    /// group with default signals, gets SIGTERM at the deadline and SIGKILL
    /// after the grace, and fails. Before the fix, one that slept past the
    /// deadline was made current, and one that ignored SIGTERM hung the boot.
    @Test(arguments: [
        ("sleeps past the deadline", "sleep 30\nexit 0"),
        ("ignores SIGTERM", "trap '' TERM\nsleep 30\nexit 0"),
        ("exits 0 when told to stop", "trap 'exit 0' TERM\nsleep 30 &\nwait\nexit 0"),
    ])
    func aSelfTestPastItsDeadlineFails(_ behaviour: String, _ script: String) throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        #expect(try bench.flash(try bench.bundle("6.0.0", selfTestScript: script)).status == 0)
        let started = ContinuousClock.now
        let boot = try bench.boot(["--self-test-seconds", "1", "--self-test-grace-seconds", "1"])
        let took = ContinuousClock.now - started
        #expect(boot.status == 0 && boot.stdout.contains("FAILED its self-test"), "\(behaviour): \(boot.stdout)")
        #expect(bench.currentTarget == "a", "\(behaviour): the previous slot stays current")
        #expect(took < .seconds(10), "\(behaviour): boot took \(took)")
    }

    /// systemd must not kill the boot while it decides the slot: the unit's
    /// start timeout covers the self-test's deadline, its grace and posd's start.
    @Test func theUnitsStartTimeoutCoversTheSelfTest() throws {
        let unit = Repository.path("Tools/Service/posd.service")
        let text = try String(contentsOf: unit, encoding: .utf8)
        func number(after key: String) -> Int? {
            guard let range = text.range(of: key) else { return nil }
            return Int(text[range.upperBound...].prefix { $0.isNumber })
        }
        let selfTest = try #require(number(after: "--self-test-seconds "))
        let grace = try #require(number(after: "--self-test-grace-seconds "))
        let timeout = try #require(number(after: "TimeoutStartSec="))
        #expect(timeout >= selfTest + grace + 30, "TimeoutStartSec=\(timeout) for a \(selfTest) s self-test and \(grace) s grace")
    }

    /// The slot state comes from the truth: with slots.json missing, flash
    /// still writes the free slot (before the fix it took "a" for current and
    /// overwrote the running slot b); with it empty, boot starts the slot the
    /// `current` link names and says so (before the fix the terminal did not start).
    @Test func aMissingOrDamagedSlotStateIsRebuiltFromTheCurrentLink() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        #expect(try bench.flash(try bench.bundle("8.0.0")).status == 0)
        #expect(try bench.boot().status == 0)
        #expect(bench.currentTarget == "b")
        let running = try Data(contentsOf: bench.root.appendingPathComponent("b/posd"))
        let slots = bench.root.appendingPathComponent("slots.json")

        try FileManager.default.removeItem(at: slots)
        let flashed = try bench.flash(try bench.bundle("8.1.0"))
        #expect(flashed.status == 0 && flashed.stdout.contains("rebuilt from current -> b") && flashed.stdout.contains("into slot a"),
                "\(flashed.stdout)")
        #expect(try Data(contentsOf: bench.root.appendingPathComponent("b/posd")) == running, "the running slot untouched")

        try Data().write(to: slots)
        let boot = try bench.boot()
        #expect(boot.status == 0 && boot.stdout.contains("WARNING") && boot.stdout.contains("current slot: b"), "\(boot.stdout)")
        #expect(bench.currentTarget == "b")
        #expect(try bench.state()["current"] as? String == "b", "the rebuilt state saved")
    }

    /// A power cut at every step of flash and of boot (the process killed by
    /// strace at the n-th call of each syscall that changes the disk): after
    /// each, the next boot starts a complete slot, the one that was running
    /// or the new one once its self-test passed, never a partial one.
    @Test func aPowerCutAtEveryStepLeavesABootableSlot() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        #expect(try bench.flash(try bench.bundle("9.0.0")).status == 0)
        #expect(try bench.boot().status == 0)  // current: b, 9.0.0
        let next = try bench.bundle("9.1.0")
        let firmware = [
            "9.0.0": try Data(contentsOf: bench.root.appendingPathComponent("b/posd")),
            "9.1.0": try Data(contentsOf: bench.dir.url.appendingPathComponent("files-9.1.0/posd")),
        ]
        let fm = FileManager.default
        let saved = bench.dir.url.appendingPathComponent("root-before")
        try fm.copyItem(at: bench.root, to: saved)
        // For boot's cuts: the new bundle flashed, waiting for its self-test.
        #expect(try bench.flash(next).status == 0)
        let flashedRoot = bench.dir.url.appendingPathComponent("root-flashed")
        try fm.copyItem(at: bench.root, to: flashedRoot)

        let steps = ["mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "symlink", "symlinkat", "fsync", "fdatasync"]
        var rows: [String] = []
        for (command, from) in [("flash", saved), ("boot", flashedRoot)] {
            for step in steps {
                for nth in 1...50 {
                    try? fm.removeItem(at: bench.root)
                    try fm.copyItem(at: from, to: bench.root)
                    let arguments = command == "flash"
                        ? ["flash", next.path, "--root", bench.root.path, "--data-dir", bench.data.path]
                        : ["boot", "--root", bench.root.path]
                    let cut = Process()
                    cut.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
                    cut.arguments = ["-f", "-qq", "-o", "/dev/null", "-e", "trace=\(step)", "-e", "inject=\(step):signal=KILL:when=\(nth)", "--",
                                     binaries.appendingPathComponent("posd-tech").path] + arguments
                    cut.standardOutput = FileHandle.nullDevice
                    cut.standardError = FileHandle.nullDevice
                    try cut.run()
                    cut.waitUntilExit()
                    // strace dies of its tracee's signal; fewer than `nth` such calls: the next step.
                    guard cut.terminationReason == .uncaughtSignal && cut.terminationStatus == SIGKILL else { break }
                    let after = (try? bench.state()).map { "current \($0["current"] as? String ?? "?"), pending \($0["pending"] as? String ?? "-")" }
                        ?? "slots.json unreadable"
                    let boot = try bench.boot()
                    let slot = bench.currentTarget ?? "none"
                    let booted = (try? Data(contentsOf: bench.root.appendingPathComponent("\(slot)/posd"))).flatMap { bytes in
                        firmware.first { $0.value == bytes }?.key
                    }
                    #expect(boot.status == 0 && booted != nil, "\(command) cut at \(step) #\(nth): boot \(boot.status), slot \(slot)")
                    rows.append("\(command) killed at \(step) #\(nth) | \(after) | boots into \(slot) (\(booted ?? "NOT BOOTABLE"))")
                }
            }
        }
        #expect(rows.count >= 6, "the cuts happened: \(rows)")
        print("power-cut matrix (\(rows.count) cuts):\n" + rows.joined(separator: "\n"))
    }

    /// Bundles carry plain files at safe modes under safe names: a symlink is
    /// refused at build (before the fix it was followed and installed with
    /// the link's mode 0777, for boot to run as root), group and world write
    /// never reach a slot, and a hostile manifest (unsafe path, duplicate,
    /// set-id mode) is refused by name before anything is written.
    @Test func bundlesRefuseSymlinksUnsafeModesAndPaths() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        let files = bench.dir.url.appendingPathComponent("files-hostile")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let posd = files.appendingPathComponent("posd")
        try Data("posd 10.0.0\n".utf8).write(to: posd)
        chmod(posd.path, 0o777)
        let link = files.appendingPathComponent("posd-link")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: posd.path)
        let out = bench.dir.url.appendingPathComponent("hostile.bundle")
        let symlinked = try bench.tech(["bundle", "build", "--version", "10.0.0", "--out", out.path, link.path])
        #expect(symlinked.status != 0 && symlinked.stderr.contains("is a symlink"), "\(symlinked.stderr)")
        let missing = try bench.tech(["bundle", "build", "--version", "10.0.0", "--out", out.path, files.appendingPathComponent("nope").path])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read") && !missing.stderr.contains("NSCocoaErrorDomain"), "\(missing.stderr)")
        let noBundle = try bench.flash(files.appendingPathComponent("nope.bundle"))
        #expect(noBundle.status == 65 && noBundle.stdout.contains("cannot read") && noBundle.stdout.contains("No such file"), "\(noBundle.stdout)")

        let selfTest = files.appendingPathComponent("posd-selftest")
        try "#!/bin/sh\nexit 0\n".write(to: selfTest, atomically: true, encoding: .utf8)
        chmod(selfTest.path, 0o755)
        #expect(try bench.tech(["bundle", "build", "--version", "10.0.0", "--out", out.path, posd.path, selfTest.path]).status == 0)
        #expect(try bench.tech(["bundle", "sign", "--key", bench.key.path, out.path]).status == 0)
        #expect(try bench.flash(out).status == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: bench.root.appendingPathComponent("b/posd").path)[.posixPermissions] as? Int
        #expect(mode == 0o755, "installed without group or world write: \(String(mode ?? 0, radix: 8))")

        // Hand-made manifests a signing key should never have signed: refused by name, nothing written.
        func hostile(_ entries: [(path: String, mode: Int)], size: Int? = nil, signed: Bool = false) throws -> PosdRun {
            let body = Data("x".utf8)
            let manifest: [String: Any] = ["version": "11.0.0", "files": entries.map {
                ["path": $0.path, "size": size ?? body.count, "sha256": Array(SHA256.hash(data: body)).map { String(format: "%02x", $0) }.joined(),
                 "mode": $0.mode] as [String: Any]
            }]
            let file = bench.dir.url.appendingPathComponent("crafted.bundle")
            var bytes = Data("POSDBUNDLE1\n".utf8) + (try JSONSerialization.data(withJSONObject: manifest)) + Data("\n\n".utf8)
            for _ in entries { bytes += body }
            try bytes.write(to: file)
            if signed { _ = try bench.tech(["bundle", "sign", "--key", bench.key.path, file.path]) }
            return try bench.flash(file)
        }
        for (path, why) in [(".", "\".\" part"), ("..", "\"..\" part"), ("/etc/passwd", "absolute"), ("", "empty"), ("a/../b", "\"..\" part"),
                            ("x\u{0}y", "NUL"), ("a//b", "empty part")] {
            let refused = try hostile([(path, 0o755)])
            #expect(refused.status == 65 && refused.stdout.contains("unsafe path") && refused.stdout.contains(why), "\(path.debugDescription): \(refused.stdout)")
        }
        let duplicate = try hostile([("posd", 0o755), ("posd", 0o755)])
        #expect(duplicate.status == 65 && duplicate.stdout.contains("names posd twice"), "\(duplicate.stdout)")
        // Sizes whose sum does not fit, even under the vendor's own signature: refused, not a trap.
        let huge = try hostile([("posd", 0o755), ("posd-selftest", 0o755)], size: Int.max / 2 + 1, signed: true)
        #expect(huge.status == 65 && huge.stdout.contains("impossible size"), "\(huge.status) \(huge.stdout)\(huge.stderr.suffix(300))")
        let setuid = try hostile([("posd", 0o4755)])
        #expect(setuid.status == 65 && setuid.stdout.contains("has mode 4755"), "\(setuid.stdout)")
        #expect(!FileManager.default.fileExists(atPath: bench.root.appendingPathComponent("a").path), "nothing written")
    }

    /// A bundle built without a self-test of its own gets the default one,
    /// which runs the new slot's own `posd-tech selftest` at boot: here a
    /// stand-in posd-tech that passes only when asked exactly that.
    @Test func bundlesGetTheDefaultSelfTest() throws {
        let bench = try Bench()
        defer { bench.dir.remove() }
        let files = bench.dir.url.appendingPathComponent("files-default")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let posd = files.appendingPathComponent("posd"), tech = files.appendingPathComponent("posd-tech")
        try "#!/bin/sh\nexit 0\n".write(to: posd, atomically: true, encoding: .utf8)
        try "#!/bin/sh\n[ \"$1\" = selftest ] && [ -x ./posd ]\n".write(to: tech, atomically: true, encoding: .utf8)
        chmod(posd.path, 0o755)
        chmod(tech.path, 0o755)
        let out = bench.dir.url.appendingPathComponent("default.bundle")
        let withoutTech = try bench.tech(["bundle", "build", "--version", "12.0.0", "--out", out.path, posd.path])
        #expect(withoutTech.status != 0 && withoutTech.stderr.contains("include posd-tech"), "\(withoutTech.stderr)")
        #expect(try bench.tech(["bundle", "build", "--version", "12.0.0", "--out", out.path, posd.path, tech.path]).status == 0)
        #expect(try bench.tech(["bundle", "sign", "--key", bench.key.path, out.path]).status == 0)
        #expect(try bench.flash(out).status == 0)
        let selfTest = try String(contentsOf: bench.root.appendingPathComponent("b/posd-selftest"), encoding: .utf8)
        #expect(selfTest.contains("exec ./posd-tech selftest"))
        let boot = try bench.boot()
        #expect(boot.stdout.contains("passed its self-test") && bench.currentTarget == "b", "\(boot.stdout)")
    }
}
