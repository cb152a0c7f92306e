import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Hex
import Posix

/// A firmware bundle: one file, so it copies and checks as a unit.
///
///     POSDBUNDLE1\n
///     <manifest JSON>\n          version, and every file's path, size, SHA-256 and mode
///     <Ed25519 signature, hex>\n  over the manifest line's bytes (empty until signed)
///     <the files' bytes, in manifest order>
///
/// The signature covers the manifest and the manifest covers every byte, so
/// one check at the start proves the whole bundle before anything is written.
public struct FirmwareBundle: Sendable {
    public struct Manifest: Codable, Equatable, Sendable {
        public struct File: Codable, Equatable, Sendable {
            public var path: String
            public var size: Int
            public var sha256: String
            public var mode: Int

            public init(path: String, size: Int, sha256: String, mode: Int) {
                self.path = path
                self.size = size
                self.sha256 = sha256
                self.mode = mode
            }
        }
        public var version: String
        public var files: [File]

        public init(version: String, files: [File]) {
            self.version = version
            self.files = files
        }
    }

    public static let magic = Data("POSDBUNDLE1\n".utf8)
    /// The most a firmware file may be: boot runs them as root.
    public static let allowedMode = 0o755

    /// Why `path` may not name a file in a slot, or nil: relative, each part
    /// a plain name (not empty, `.` or `..`), no NUL, of sane length.
    public static func pathProblem(_ path: String) -> String? {
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
    public var manifestBytes: Data
    public var manifest: Manifest
    public var signature: Data
    /// Offset of the first file's bytes in the bundle file.
    public var payloadOffset: Int

    public enum Invalid: Error, CustomStringConvertible {
        case unreadable(String), notABundle, truncated(String), tampered(String), unsigned, untrusted, unsafePath(String, why: String)
        case duplicatePath(String), unsafeMode(String, Int), badSize(String)

        public var description: String {
            switch self {
            case .unreadable(let why): why
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
    public init(contentsOf url: URL) throws {
        let head: [UInt8]
        do {
            head = try FileDescriptor.withOpened(url.path, O_RDONLY) { try $0.read(upTo: Self.headerLimit) }
        } catch {
            throw Invalid.unreadable("cannot read \(url.path): \(error)")
        }
        try self.init(header: Data(head))
    }

    /// The most of a bundle's start that can hold its header.
    public static let headerLimit = 1 << 20

    /// Parses and checks a bundle's header from its first bytes (up to `headerLimit`).
    public init(header head: Data) throws(Invalid) {
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
    public func verify(trustedKeys: [Curve25519.Signing.PublicKey], bundle url: URL) throws {
        guard !signature.isEmpty else { throw Invalid.unsigned }
        guard trustedKeys.contains(where: { $0.isValidSignature(signature, for: manifestBytes) }) else { throw Invalid.untrusted }
        let size: Int
        do { size = try fileSize(url.path) } catch { throw Invalid.unreadable("cannot read \(url.path): \(error)") }
        let expected = payloadOffset + manifest.files.map(\.size).reduce(0, +)
        guard size == expected else { throw Invalid.truncated("\(size) bytes, the manifest accounts for \(expected)") }
        try forEachFile(in: url) { file, chunks in
            var hash = SHA256()
            try chunks { hash.update(data: $0) }
            guard Array(hash.finalize()).hex == file.sha256 else { throw Invalid.tampered(file.path) }
        }
    }

    /// Streams each file's bytes in chunks (no whole firmware in memory).
    public func forEachFile(in url: URL, _ body: (Manifest.File, (([UInt8]) throws -> Void) throws -> Void) throws -> Void) throws {
        try FileDescriptor.withOpened(url.path, O_RDONLY) { bundle in
            try bundle.seek(to: payloadOffset)
            for file in manifest.files {
                try body(file) { consume in
                    var left = file.size
                    while left > 0 {
                        let chunk = try bundle.read(upTo: min(left, 1 << 20))
                        guard !chunk.isEmpty else { throw Invalid.truncated("\(file.path) ends early") }
                        try consume(chunk)
                        left -= chunk.count
                    }
                }
            }
        }
    }
}
