import ArgumentParser
import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Posix
import FirmwareBundle
import Hex

extension FirmwareBundle {
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
        do {
            try FileDescriptor.withOpened(out.path, O_WRONLY | O_CREAT | O_TRUNC, permissions: 0o644) { bundle in
                try bundle.writeAll(magic + manifest + Data([0x0A, 0x0A]))
                for bytes in contents { try bundle.writeAll(bytes) }
            }
        } catch {
            throw Failure("cannot write \(out.path): \(error)")
        }
    }

    /// Rewrites the signature line in place of the old one.
    static func sign(_ url: URL, key: Curve25519.Signing.PrivateKey) throws {
        let bundle = try FirmwareBundle(contentsOf: url)
        let signature = Data(try key.signature(for: bundle.manifestBytes))
        let payload = try FileDescriptor.withOpened(url.path, O_RDONLY) { file in
            try file.seek(to: bundle.payloadOffset)
            return try file.readToEnd()
        }
        let signed = magic + bundle.manifestBytes + Data([0x0A]) + Data(Array(signature).hex.utf8) + Data([0x0A]) + Data(payload)
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
            guard let raw = [UInt8](hex: try String(contentsOfFile: key, encoding: .utf8).trimmingWhitespace) else {
                throw ValidationError("\(key) is not a key from keygen")
            }
            try FirmwareBundle.sign(URL(fileURLWithPath: bundle), key: try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
            print("signed \(bundle)")
        }
    }
}
