import Crypto
import Hex
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A journal carried to the platform on removable media when no network
/// exists (not part of the clearing API: posd's own format, imported by the
/// reference platform). One header line of JSON, then an upload request body
/// exactly as `POST /v1/records` takes it. The header's MAC is HMAC-SHA256
/// over the body under SHA-256 of the terminal's token: both the terminal
/// (which holds the token) and the platform (which keeps only its SHA-256)
/// can compute it, and nobody else can make a body that passes.
public struct JournalExport: Sendable {
    public struct Header: Codable, Equatable, Sendable {
        public var format: String
        public var terminalID: String
        public var count: Int
        public var firstSeq: Int
        public var lastSeq: Int
        public var mac: String

        enum CodingKeys: String, CodingKey {
            case format, count, mac
            case terminalID = "terminal_id", firstSeq = "first_seq", lastSeq = "last_seq"
        }
    }

    public static let format = "posd-journal-export-1"
    public var header: Header
    /// The upload request body, as sent.
    public var body: Data

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case notAnExport, truncated, macMismatch

        public var description: String {
            switch self {
            case .notAnExport: "not a posd journal export"
            case .truncated: "the export is incomplete (its records do not match its header)"
            case .macMismatch: "the export's MAC does not verify: it was altered, or it is not from this terminal"
            }
        }
    }

    /// A new export of `records` (in ascending seq), sealed with the token.
    public init(terminalID: String, records: [WireRecord], token: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        body = try encoder.encode(UploadRequest(terminalID: terminalID, records: records))
        header = Header(format: Self.format, terminalID: terminalID, count: records.count, firstSeq: records.first?.seq ?? 0,
                        lastSeq: records.last?.seq ?? 0, mac: Self.mac(body, keyDigest: Array(SHA256.hash(data: Array(token.utf8)))))
    }

    /// Parses a file's bytes (the MAC is checked separately, by whoever holds the key).
    public init(bytes: Data) throws(Invalid) {
        guard let newline = bytes.firstIndex(of: 0x0A),
              let header = try? JSONDecoder().decode(Header.self, from: bytes[bytes.startIndex..<newline]),
              header.format == Self.format
        else { throw .notAnExport }
        let body = Data(bytes[(newline + 1)...])
        guard let request = try? JSONDecoder().decode(UploadRequest.self, from: body), request.records.count == header.count,
              request.records.first?.seq ?? 0 == header.firstSeq, request.records.last?.seq ?? 0 == header.lastSeq
        else { throw .truncated }
        self.header = header
        self.body = body
    }

    public var bytes: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ((try? encoder.encode(header)) ?? Data()) + Data([0x0A]) + body
    }

    /// Checks the MAC with the SHA-256 of the terminal's token.
    public func verify(tokenDigest: [UInt8]) throws(Invalid) {
        guard Self.mac(body, keyDigest: tokenDigest) == header.mac else { throw .macMismatch }
    }

    static func mac(_ body: Data, keyDigest: [UInt8]) -> String {
        Array(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: keyDigest))).hex
    }
}
