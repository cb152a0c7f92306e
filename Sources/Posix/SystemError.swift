#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: what was attempted (the call and its object, e.g.
/// "open /opt/posd/a/posd") and the errno it left, in the system's words.
public struct SystemError: Error, Equatable, CustomStringConvertible {
    public let call: String
    public let errno: Int32

    /// `errno` defaults to the one the failed call just left.
    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}
