import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hex

/// The supervisor's PIN that settling from the keypad asks for, kept only as
/// a salted SHA-256 in `terminal.json` (never the PIN, never logged).
///
/// Why not a slow KDF: a 4 to 12 digit PIN falls to an offline search whatever
/// hash is spent on it at a terminal's speed; what protects it is that the
/// file is the posd user's alone and that the keypad locks after
/// `SupervisorPIN.attemptsBeforeLockout` wrong PINs. The hash keeps the PIN
/// out of backups, exports and over-the-shoulder reads of the file.
public struct SupervisorPIN: Codable, Equatable, Sendable {
    public var salt: String
    public var sha256: String

    public static let digits = 4...12
    public static let attemptsBeforeLockout = 3
    public static let lockout: Duration = .seconds(300)

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String { "a supervisor PIN is \(SupervisorPIN.digits.lowerBound) to \(SupervisorPIN.digits.upperBound) digits" }
    }

    public init(pin: String) throws(Invalid) {
        guard Self.digits.contains(pin.count), pin.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw Invalid() }
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
        self.salt = salt.hex
        sha256 = Self.digest(salt: salt, pin: pin).hex
    }

    public func matches(_ pin: String) -> Bool {
        guard let salt = [UInt8](hex: salt), let expected = [UInt8](hex: sha256) else { return false }
        let offered = Self.digest(salt: salt, pin: pin)
        // Compared in full whatever differs first.
        return offered.count == expected.count && zip(offered, expected).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func digest(salt: [UInt8], pin: String) -> [UInt8] { Array(SHA256.hash(data: salt + Array(pin.utf8))) }
}
