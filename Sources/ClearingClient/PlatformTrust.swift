import ClearingAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// The certificate authority the clearing platform's certificate must chain
/// to, provisioned with the terminal (`posd-tech provision --clearing-ca`).
/// posd trusts this anchor alone for its platform, never the system's CA
/// store: a shop's network, or a CA the device's image happens to trust,
/// cannot stand in for the platform.
///
/// No key pin on top of it: a pinned leaf key strands every terminal in the
/// field, offline, the day the platform rotates its key, while the anchor
/// already names the one authority allowed to issue the platform's
/// certificate. Rotating the anchor itself is a re-provisioning.
public struct PlatformTrust: Sendable {
    public let anchors: [NIOSSLCertificate]
    /// The PEM bytes, identifying the anchor (one HTTP client per anchor).
    let pem: [UInt8]

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(pemFile path: String) throws(Invalid) {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "cannot read the clearing CA file \(path)")
        }
        try self.init(pem: Array(bytes), source: path)
    }

    public init(pem: [UInt8], source: String) throws(Invalid) {
        let anchors: [NIOSSLCertificate]
        do { anchors = try NIOSSLCertificate.fromPEMBytes(pem) } catch {
            throw Invalid(description: "\(source) is not a PEM certificate file: \(error)")
        }
        guard !anchors.isEmpty else { throw Invalid(description: "\(source) holds no certificate") }
        self.anchors = anchors
        self.pem = pem
    }

    /// TLS for the platform: this anchor only, host name (or IP address)
    /// checked, validity dates checked against the system clock, TLS 1.2 or later.
    var clientConfiguration: TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(anchors)
        tls.certificateVerification = .fullVerification
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}

/// Why a platform certificate was refused, in words a technician can act on.
/// Worked out after BoringSSL's bare "certificate verify failed" by looking
/// at the certificate the platform presents (a handshake that is abandoned
/// before a byte of HTTP is sent, so no token crosses it).
public enum CertificateRefusal: Equatable, Sendable, CustomStringConvertible {
    case expired(Date)
    case notYetValid(Date)
    case selfSigned
    case notFromTheAnchor
    case wrongHost(String)
    case unverified(String)

    public var description: String {
        switch self {
        case .expired(let date): "the platform's certificate expired on \(Self.day(date))"
        case .notYetValid(let date): "the platform's certificate is not valid before \(Self.day(date)): check the terminal's clock"
        case .selfSigned: "the platform presented a self-signed certificate"
        case .notFromTheAnchor: "the platform's certificate was not issued by the provisioned clearing CA"
        case .wrongHost(let host): "the platform's certificate is not for \(host)"
        case .unverified(let why): "the platform's certificate did not verify: \(why)"
        }
    }

    static func day(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// The certificate a TLS server presents, read during a handshake that is
/// then abandoned. For naming a refusal and for diagnostics; never for trust.
public enum PresentedCertificate {
    /// The chain the server at `host:port` sends, leaf first.
    public static func chain(host: String, port: Int, timeout: TimeAmount = .seconds(5)) async throws -> [NIOSSLCertificate] {
        let captured = Captured()
        _ = try? await handshake(host: host, port: port, timeout: timeout) { tls in
            tls.certificateVerification = .fullVerification
        } verify: { chain, promise in
            captured.set(chain)
            promise.succeed(.failed)
        }
        guard let chain = captured.value, !chain.isEmpty else { throw PresentedCertificateError.noCertificate }
        return chain
    }

    /// Whether a handshake succeeds trusting `anchors` alone, host name unchecked.
    static func verifies(host: String, port: Int, against anchors: [NIOSSLCertificate], timeout: TimeAmount = .seconds(5)) async -> Bool {
        (try? await handshake(host: host, port: port, timeout: timeout) { tls in
            tls.trustRoots = .certificates(anchors)
            tls.certificateVerification = .noHostnameVerification
        }) != nil
    }

    /// Why the platform's certificate failed `trust`: expiry and start date
    /// first (the commonest field faults: a lapsed certificate, a terminal
    /// whose clock lost its battery), then a certificate that vouches only
    /// for itself, else an issuer other than the anchor.
    static func refusal(host: String, port: Int, now: Date = Date()) async -> CertificateRefusal {
        guard let leaf = try? await chain(host: host, port: port).first else {
            return .unverified("the platform presented no certificate")
        }
        let notAfter = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        let notBefore = Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore))
        if now > notAfter { return .expired(notAfter) }
        if now < notBefore { return .notYetValid(notBefore) }
        if await verifies(host: host, port: port, against: [leaf]) { return .selfSigned }
        return .notFromTheAnchor
    }

    private static func handshake(
        host: String, port: Int, timeout: TimeAmount, configure: (inout TLSConfiguration) -> Void,
        verify: NIOSSLCustomVerificationCallback? = nil
    ) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        configure(&tls)
        let context = try NIOSSLContext(configuration: tls)
        let serverName = HostForm.serverName(host)
        let done = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(
                        context: context, serverHostname: serverName, customVerificationCallback: verify, configuration: .init())
                    try channel.pipeline.syncOperations.addHandlers(handler, HandshakeWatcher(done: done))
                }
            }
            .connect(host: host, port: port).get()
        channel.eventLoop.scheduleTask(in: timeout) { done.fail(ChannelError.connectTimeout(timeout)) }
        defer { channel.close(promise: nil) }
        try await done.futureResult.get()
    }

}

/// What a URL's host is, by `inet_pton`: a name, or an IPv4 or IPv6 address.
/// SNI carries names only (an address is checked against the certificate's IP
/// entries), and an IPv6 address is bracketed in the `Host` header.
enum HostForm {
    case name, ipv4, ipv6

    init(_ host: String) {
        var v4 = in_addr(), v6 = in6_addr()
        self = inet_pton(AF_INET, host, &v4) == 1 ? .ipv4 : inet_pton(AF_INET6, host, &v6) == 1 ? .ipv6 : .name
    }

    /// The TLS server name for `host`: nil for an address.
    static func serverName(_ host: String) -> String? { HostForm(host) == .name ? host : nil }
}

public enum PresentedCertificateError: Error, CustomStringConvertible {
    case noCertificate
    public var description: String { "the server presented no certificate" }
}

/// Completes `done` when the TLS handshake completes, fails it on an error or close.
private final class HandshakeWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>
    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { done.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}

/// The chain a verification callback saw (set on the event loop, read after).
private final class Captured: @unchecked Sendable {
    private let lock = Mutex(())
    private var chain: [NIOSSLCertificate]?
    func set(_ chain: [NIOSSLCertificate]) { lock.withLock { _ in self.chain = chain } }
    var value: [NIOSSLCertificate]? { lock.withLock { _ in chain } }
}
