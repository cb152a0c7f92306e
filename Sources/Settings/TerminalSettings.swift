#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What provisioning writes and `posd` reads at start: who the terminal is,
/// where its platform is, what hardware it has and what it does. Kept in
/// `<data-dir>/terminal.json`; the token is beside it in its own file,
/// readable by the posd user only, and never in this one.
public struct TerminalSettings: Codable, Equatable, Sendable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case cashier, validator
    }

    public var terminalID: String
    public var clearingURL: String
    public var mode: Mode
    public var board: String?
    public var cardReader: String
    public var psamReader: String
    /// Validators: the vehicle's line and stop, and the route file (in the
    /// data directory) for distance fares; none means flat fares.
    public var line: UInt16?
    public var stop: UInt16?
    public var route: String?
    /// The clearing platform's CA certificate (PEM, in the data directory):
    /// the one anchor its HTTPS certificate must chain to. None for plain
    /// HTTP to loopback (the bench).
    public var clearingCA: String?
    /// Validators: the Unix socket the vehicle computer reports the stop on.
    public var vehicleSocket: String?
    /// Cashiers: the PIN settling from the keypad asks for (hashed).
    public var supervisorPIN: SupervisorPIN?
    /// Cashiers: the time of day (`HH:MM`, terminal time) `posd run` settles by itself.
    public var settleAt: String?

    public init(terminalID: String, clearingURL: String, mode: Mode, board: String?, cardReader: String, psamReader: String,
                line: UInt16? = nil, stop: UInt16? = nil, route: String? = nil, clearingCA: String? = nil,
                supervisorPIN: SupervisorPIN? = nil, settleAt: String? = nil, vehicleSocket: String? = nil) {
        self.terminalID = terminalID
        self.clearingURL = clearingURL
        self.mode = mode
        self.board = board
        self.cardReader = cardReader
        self.psamReader = psamReader
        self.line = line
        self.stop = stop
        self.route = route
        self.clearingCA = clearingCA
        self.supervisorPIN = supervisorPIN
        self.settleAt = settleAt
        self.vehicleSocket = vehicleSocket
    }

    enum CodingKeys: String, CodingKey {
        case mode, board, line, stop, route
        case terminalID = "terminal_id", clearingURL = "clearing_url", cardReader = "card_reader", psamReader = "psam_reader"
        case clearingCA = "clearing_ca", supervisorPIN = "supervisor_pin", settleAt = "settle_at", vehicleSocket = "vehicle_socket"
    }

    public static let fileName = "terminal.json"
    public static let tokenFileName = "clearing.token"
    public static let clearingCAFileName = "clearing-ca.pem"

    /// The provisioned clearing CA file, if any.
    public func clearingCAURL(in dataDir: URL) -> URL? { clearingCA.map { dataDir.appendingPathComponent($0) } }

    public static func url(in dataDir: URL) -> URL { dataDir.appendingPathComponent(fileName) }
    public static func tokenURL(in dataDir: URL) -> URL { dataDir.appendingPathComponent(tokenFileName) }

    /// The settings of a provisioned terminal; nil when it has none yet.
    public static func load(from dataDir: URL) throws -> TerminalSettings? {
        let url = url(in: dataDir)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try JSONDecoder().decode(TerminalSettings.self, from: Data(contentsOf: url))
    }

    /// Writes the settings atomically (a power cut leaves the old file or the new one).
    public func save(in dataDir: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        try encoder.encode(self).write(to: Self.url(in: dataDir), options: .atomic)
    }

    /// Writes the token so that only the owner (the posd user) can read it:
    /// created with mode 0600 before a byte is written, then renamed into place.
    public static func saveToken(_ token: String, in dataDir: URL, owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        let final = tokenURL(in: dataDir)
        let temporary = dataDir.appendingPathComponent(".\(tokenFileName).\(getpid())")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let bytes = Array(token.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        if let owner { _ = fchown(fd, owner.uid, owner.gid) }
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary.path, final.path) == 0 else {
            unlink(temporary.path)
            throw POSIXError(.EIO)
        }
    }
}
