import Hex
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Where the clearing platform is, and who this terminal is to it. The token
/// is a secret: it is kept out of every description, so printing or logging
/// an endpoint never shows it.
public struct ClearingEndpoint: Sendable, CustomStringConvertible {
    public let baseURL: URL
    public let terminalID: String
    private let token: String

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case notAURL(String)
        case scheme(String)
        case plainHTTPToNonLoopback(String)
        case terminalID(String)
        case emptyToken

        public var description: String {
            switch self {
            case .notAURL(let text): "clearing URL \"\(text)\" is not an http(s) URL with a host"
            case .scheme(let scheme): "clearing URL scheme \"\(scheme)\" is not https"
            case .plainHTTPToNonLoopback(let host):
                "plain HTTP to \(host) refused: the clearing platform must be reached over HTTPS (plain HTTP only to a loopback address written as one, e.g. 127.0.0.1)"
            case .terminalID(let id): "terminal id \"\(id)\" is not 12 upper-case hex digits"
            case .emptyToken: "the terminal token is empty"
            }
        }
    }

    /// Checks the contract's transport rule: HTTPS, or plain HTTP only to a
    /// literal loopback address (127.0.0.0/8 or ::1).
    public init(url text: String, terminalID: String, token: String) throws(Invalid) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw .notAURL(text)
        }
        switch scheme {
        case "https": break
        case "http": guard Self.isLoopback(host) else { throw .plainHTTPToNonLoopback(host) }
        default: throw .scheme(scheme)
        }
        guard terminalID.utf8.count == 12, terminalID.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x46).contains($0) }) else {
            throw .terminalID(terminalID)
        }
        let trimmed = token.trimmingWhitespace
        guard !trimmed.isEmpty else { throw .emptyToken }
        self.baseURL = url
        self.terminalID = terminalID
        self.token = trimmed
    }

    /// A literal loopback address: IPv4 127.0.0.0/8 in dotted-quad form, or
    /// IPv6 `::1` (with or without brackets), parsed by `inet_pton`. Names,
    /// `localhost` included, are refused: plain HTTP carries the bearer token,
    /// and a name's resolution is not ours to vouch for (resolv.conf, hosts).
    public static func isLoopback(_ host: String) -> Bool {
        var bare = host
        if bare.hasPrefix("[") && bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, bare, &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) }
    }

    /// The `Authorization` header value. Only the HTTP client calls this.
    public var authorization: String { "Bearer \(token)" }

    /// The HTTP request target for `path` (which starts with "/") under the
    /// provisioned URL's own path, kept percent-encoded: a `%0D%0A` in the
    /// provisioned URL stays three characters, never a line break in the request.
    public func requestTarget(_ path: String) -> String {
        var prefix = baseURL.path(percentEncoded: true)
        while prefix.hasSuffix("/") { prefix.removeLast() }
        return prefix + path
    }

    public var description: String { "\(baseURL.absoluteString) as terminal \(terminalID)" }
}
