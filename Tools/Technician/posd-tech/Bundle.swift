import ArgumentParser
import Crypto
import Foundation
import Hex

/// A firmware bundle: one file, so it copies and checks as a unit.
///
///     POSDBUNDLE1\n
///     <manifest JSON>\n          version, and every file's path, size, SHA-256 and mode
///     <Ed25519 signature, hex>\n  over the manifest line's bytes (empty until signed)
///     <the files' bytes, in manifest order>
///
/// The signature covers the manifest and the manifest covers every byte, so
/// one check at the start proves the whole bundle before anything is written.
struct FirmwareBundle {
    struct Manifest: Codable, Equatable {
        struct File: Codable, Equatable {
            var path: String
            var size: Int
            var sha256: String
            var mode: Int
        }
        var version: String
        var files: [File]
    }

    static let magic = Data("POSDBUNDLE1\n".utf8)
    /// The most a firmware file may be: boot runs them as root.
    static let allowedMode = 0o755

    /// Why `path` may not name a file in a slot, or nil: relative, each part
    /// a plain name (not empty, `.` or `..`), no NUL, of sane length.
    static func pathProblem(_ path: String) -> String? {
        if path.isEmpty { return "empty" }
        if path.hasPrefix("/") { return "absolute" }
        if path.utf8.contains(0) { return "contains NUL" }
        if path.utf8.count > 255 { return "longer than 255 bytes" }
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty { return "an empty part" }
            if part == "." || part == ".." { return "a \"\(part)\" part" }
        }
        return nil
    }
    var manifestBytes: Data
    var manifest: Manifest
    var signature: Data
    /// Offset of the first file's bytes in the bundle file.
    var payloadOffset: Int

    enum Invalid: Error, CustomStringConvertible {
        case notABundle, truncated(String), tampered(String), unsigned, untrusted, unsafePath(String, why: String)
        case duplicatePath(String), unsafeMode(String, Int), badSize(String)

        var description: String {
            switch self {
            case .notABundle: "not a posd firmware bundle"
            case .truncated(let why): "the bundle is truncated: \(why)"
            case .tampered(let file): "\(file) does not match its hash in the signed manifest: the bundle was altered"
            case .unsigned: "the bundle is not signed"
            case .untrusted: "the signature does not verify against any trusted key"
            case .unsafePath(let path, let why): "the manifest names an unsafe path \(path.debugDescription): \(why)"
            case .duplicatePath(let path): "the manifest names \(path) twice"
            case .unsafeMode(let path, let mode): "\(path) has mode \(String(mode, radix: 8)): firmware files are at most 0755 (no group or world write, no set-id)"
            case .badSize(let path): "\(path) has a negative or impossible size"
            }
        }
    }

    /// Reads the header of the bundle at `url` (the files are read when checked or written).
    init(contentsOf url: URL) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw Failure("cannot read \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let head = try handle.read(upToCount: 1 << 20) ?? Data()
        guard head.starts(with: Self.magic) else { throw Invalid.notABundle }
        let lines = head.dropFirst(Self.magic.count).split(separator: 0x0A, maxSplits: 2, omittingEmptySubsequences: false)
        guard lines.count == 3, let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(lines[0])) else {
            throw Invalid.truncated("no complete manifest")
        }
        var seen = Set<String>()
        let offset = Self.magic.count + lines[0].count + 1 + lines[1].count + 1
        // The sizes are added up (progress, the file's expected length): their sum must fit.
        var end = offset
        for file in manifest.files {
            if let why = Self.pathProblem(file.path) { throw Invalid.unsafePath(file.path, why: why) }
            guard seen.insert(file.path).inserted else { throw Invalid.duplicatePath(file.path) }
            guard file.mode & ~Self.allowedMode == 0 else { throw Invalid.unsafeMode(file.path, file.mode) }
            let (sum, overflow) = end.addingReportingOverflow(file.size)
            guard file.size >= 0, !overflow else { throw Invalid.badSize(file.path) }
            end = sum
        }
        manifestBytes = Data(lines[0])
        self.manifest = manifest
        signature = [UInt8](hex: String(decoding: lines[1], as: UTF8.self)).map { Data($0) } ?? Data()
        payloadOffset = offset
    }

    /// The signature against the trusted keys, then every file's size and hash.
    func verify(trustedKeys: [Curve25519.Signing.PublicKey], bundle url: URL) throws {
        guard !signature.isEmpty else { throw Invalid.unsigned }
        guard trustedKeys.contains(where: { $0.isValidSignature(signature, for: manifestBytes) }) else { throw Invalid.untrusted }
        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        let expected = payloadOffset + manifest.files.map(\.size).reduce(0, +)
        guard size == expected else { throw Invalid.truncated("\(size) bytes, the manifest accounts for \(expected)") }
        try forEachFile(in: url) { file, chunks in
            var hash = SHA256()
            try chunks { hash.update(data: $0) }
            guard Array(hash.finalize()).hex == file.sha256 else { throw Invalid.tampered(file.path) }
        }
    }

    /// Streams each file's bytes in chunks (no whole firmware in memory).
    func forEachFile(in url: URL, _ body: (Manifest.File, ((Data) throws -> Void) throws -> Void) throws -> Void) throws {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(payloadOffset))
        for file in manifest.files {
            try body(file) { consume in
                var left = file.size
                while left > 0 {
                    guard let chunk = try handle.read(upToCount: min(left, 1 << 20)), !chunk.isEmpty else {
                        throw Invalid.truncated("\(file.path) ends early")
                    }
                    try consume(chunk)
                    left -= chunk.count
                }
            }
        }
    }

    /// The self-test a bundle gets unless it brings its own: the slot's own
    /// `posd-tech selftest`, run by boot in the slot's directory.
    static let defaultSelfTest = Data("#!/bin/sh\n# Written by posd-tech bundle build: the new slot checks itself on this device.\nexec ./posd-tech selftest \"$@\"\n".utf8)

    /// A new unsigned bundle of `files` (relative names as given), with the
    /// default `posd-selftest` added unless one is among them.
    static func build(version: String, files: [URL], names: [String], to out: URL) throws {
        var entries: [Manifest.File] = []
        var contents: [Data] = []
        func add(_ name: String, _ bytes: Data, mode: Int) throws {
            if let why = pathProblem(name) { throw Failure("\(name.debugDescription) cannot name a firmware file: \(why)") }
            guard !entries.contains(where: { $0.path == name }) else { throw Failure("two files named \(name)") }
            entries.append(.init(path: name, size: bytes.count, sha256: Array(SHA256.hash(data: bytes)).hex, mode: mode))
            contents.append(bytes)
        }
        for (url, name) in zip(files, names) {
            // lstat: a symlink would install whatever it points at, with the link's mode 0777.
            var info = stat()
            guard lstat(url.path, &info) == 0 else { throw Failure("cannot read \(url.path): \(String(cString: strerror(errno)))") }
            guard info.st_mode & S_IFMT != S_IFLNK else { throw Failure("\(url.path) is a symlink: give the file itself") }
            guard info.st_mode & S_IFMT == S_IFREG else { throw Failure("\(url.path) is not a regular file") }
            guard let bytes = FileManager.default.contents(atPath: url.path) else {
                throw Failure("cannot read \(url.path): \(String(cString: strerror(errno)))")
            }
            // Group and world write and the set-id bits never go into a bundle.
            try add(name, bytes, mode: Int(info.st_mode) & allowedMode)
        }
        if !names.contains("posd-selftest") {
            guard names.contains("posd-tech") else {
                throw Failure("the default self-test runs the bundle's posd-tech: include posd-tech, or give a posd-selftest of your own")
            }
            try add("posd-selftest", defaultSelfTest, mode: 0o755)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifest = try encoder.encode(Manifest(version: version, files: entries))
        guard FileManager.default.createFile(atPath: out.path, contents: magic + manifest + Data([0x0A, 0x0A])) else {
            throw Failure("cannot write \(out.path)")
        }
        let handle = try FileHandle(forWritingTo: out)
        defer { try? handle.close() }
        try handle.seekToEnd()
        for bytes in contents { try handle.write(contentsOf: bytes) }
    }

    /// Rewrites the signature line in place of the old one.
    static func sign(_ url: URL, key: Curve25519.Signing.PrivateKey) throws {
        let bundle = try FirmwareBundle(contentsOf: url)
        let signature = Data(try key.signature(for: bundle.manifestBytes))
        let handle = try FileHandle(forReadingFrom: url)
        try handle.seek(toOffset: UInt64(bundle.payloadOffset))
        let payload = try handle.readToEnd() ?? Data()
        try handle.close()
        let signed = magic + bundle.manifestBytes + Data([0x0A]) + Data(Array(signature).hex.utf8) + Data([0x0A]) + payload
        try signed.write(to: url, options: .atomic)
    }
}

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle", abstract: "Vendor side: make signing keys, build and sign firmware bundles.",
        subcommands: [KeyGen.self, Build.self, Sign.self])

    struct KeyGen: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen", abstract: "Make an Ed25519 signing key (KEY, mode 0600) and its public key (KEY.pub, for terminals).")

        @Option(help: "Private key file to write.")
        var out: String

        func run() throws {
            let key = Curve25519.Signing.PrivateKey()
            let fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw ValidationError("cannot create \(out) (it must not exist yet)") }
            let text = Array(key.rawRepresentation).hex + "\n"
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            try (Array(key.publicKey.rawRepresentation).hex + "\n").write(toFile: out + ".pub", atomically: true, encoding: .utf8)
            print("signing key \(out), public key \(out).pub")
        }
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build an unsigned bundle from files (each stored under its file name).")

        @Option(help: "Firmware version.")
        var version: String

        @Option(help: "Bundle file to write.")
        var out: String

        @Argument(help: "Files of the firmware (e.g. posd, posd-tech, posd-selftest).")
        var files: [String]

        func validate() throws {
            guard SemanticVersion(version) != nil else { throw ValidationError("--version \(version) is not a semantic version (MAJOR.MINOR.PATCH)") }
        }

        func run() throws {
            let urls = files.map { URL(fileURLWithPath: $0) }
            try FirmwareBundle.build(version: version, files: urls, names: urls.map(\.lastPathComponent), to: URL(fileURLWithPath: out))
            print("built \(out): version \(version), \(files.count) files, unsigned")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a bundle's manifest with the vendor's key.")

        @Option(help: "Private key file (from keygen).")
        var key: String

        @Argument(help: "Bundle to sign (in place).")
        var bundle: String

        func run() throws {
            guard let raw = [UInt8](hex: try String(contentsOfFile: key, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw ValidationError("\(key) is not a key from keygen")
            }
            try FirmwareBundle.sign(URL(fileURLWithPath: bundle), key: try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
            print("signed \(bundle)")
        }
    }
}
