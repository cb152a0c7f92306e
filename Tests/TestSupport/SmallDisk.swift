import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A size-limited tmpfs, for real ENOSPC.
public struct SmallDisk {
    public let mountPoint: URL
    public var filler: URL { mountPoint.appendingPathComponent("filler") }

    public init(at mountPoint: URL, kilobytes: Int) throws {
        self.mountPoint = mountPoint
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", mountPoint.path]
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            throw SetupFailure("cannot mount a tmpfs at \(mountPoint.path) (the full-disk test needs root)")
        }
    }

    /// Writes a filler file until the filesystem refuses another byte.
    public func fill() throws {
        let fd = open(filler.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw SetupFailure("cannot create \(filler.path)") }
        defer { close(fd) }
        for chunk in [65536, 4096, 1] {
            let bytes = [UInt8](repeating: 0, count: chunk)
            while write(fd, bytes, chunk) == chunk {}
        }
        guard errno == ENOSPC else { throw SetupFailure("filler stopped with errno \(errno), not ENOSPC") }
    }

    public func emptyFiller() throws { try FileManager.default.removeItem(at: filler) }

    public func unmount() {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-l", mountPoint.path]
        try? umount.run()
        umount.waitUntilExit()
    }
}

public struct SetupFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
