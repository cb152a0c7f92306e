#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `<data-dir>/vehicle.json`: the stop a running validator prices taps at and
/// where it came from (the vehicle feed, or the provisioned stop when the
/// feed is missing), written by `posd run` when either changes and read by
/// `posd-tech diagnostics`.
public struct VehicleStatus: Codable, Equatable, Sendable {
    public var line: UInt16
    public var direction: UInt8?
    public var stop: UInt16
    /// "feed" or "provisioned".
    public var source: String
    /// ISO 8601, when the validator last changed it.
    public var updatedAt: String

    public init(line: UInt16, direction: UInt8?, stop: UInt16, source: String, updatedAt: String) {
        (self.line, self.direction, self.stop, self.source, self.updatedAt) = (line, direction, stop, source, updatedAt)
    }

    enum CodingKeys: String, CodingKey {
        case line, direction, stop, source
        case updatedAt = "updated_at"
    }

    public static let fileName = "vehicle.json"

    public static func load(from dataDir: URL) -> VehicleStatus? {
        (try? Data(contentsOf: dataDir.appendingPathComponent(fileName))).flatMap { try? JSONDecoder().decode(VehicleStatus.self, from: $0) }
    }
}
