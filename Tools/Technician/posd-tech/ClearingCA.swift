import ClearingClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOSSL
import Settings
import X509

/// The clearing platform's certificate authority as a technician handles it:
/// checked before it is provisioned, and the platform's certificate reported
/// in diagnostics.
enum ClearingCA {
    /// A provisioned anchor must be a CA certificate that is valid today:
    /// a leaf given by mistake would pin one certificate (and strand the
    /// terminal at its renewal), an expired CA would refuse every connection.
    static func check(pemFile path: String, now: Date = Date()) throws -> (pem: Data, subjects: [String]) {
        let trust: PlatformTrust
        do { trust = try PlatformTrust(pemFile: path) } catch { throw Failure("\(error)") }
        var subjects: [String] = []
        for anchor in trust.anchors {
            let certificate = try parse(anchor)
            guard case .isCertificateAuthority = try certificate.extensions.basicConstraints else {
                throw Failure("\(certificate.subject) in \(path) is not a CA certificate (no basicConstraints CA:TRUE): give the CA that issued the platform's certificate")
            }
            guard certificate.notValidAfter > now else { throw Failure("the CA \(certificate.subject) expired on \(Diagnostics.iso8601(certificate.notValidAfter))") }
            guard certificate.notValidBefore <= now else {
                throw Failure("the CA \(certificate.subject) is not valid before \(Diagnostics.iso8601(certificate.notValidBefore)): check this terminal's clock")
            }
            subjects.append("\(certificate.subject)")
        }
        guard let pem = FileManager.default.contents(atPath: path) else { throw Failure("cannot read \(path)") }
        return (pem, subjects)
    }

    static func parse(_ certificate: NIOSSLCertificate) throws -> Certificate {
        do { return try Certificate(derEncoded: try certificate.toDERBytes()) } catch {
            throw Failure("a certificate X.509 cannot parse: \(error)")
        }
    }

    /// Warn this many days before the platform's certificate expires.
    static let warningDays = 30

    /// The certificate the platform presents: subject, issuer, expiry and
    /// days left; fails once expired, warns inside `warningDays`.
    static func platformCertificate(url: URL, now: Date = Date()) async throws -> (detail: String, figures: [String: Diagnostics.Figure]) {
        guard let host = url.host else { throw Failure("no host in \(url)") }
        guard let presented = try await PresentedCertificate.chain(host: host, port: url.port ?? 443).first else {
            throw Failure("the platform presented no certificate")
        }
        let leaf = try parse(presented)
        let daysLeft = Int((leaf.notValidAfter.timeIntervalSince(now) / 86_400).rounded(.down))
        let figures: [String: Diagnostics.Figure] = [
            "subject": .text("\(leaf.subject)"), "issuer": .text("\(leaf.issuer)"), "not_valid_after": .time(leaf.notValidAfter),
            "days_left": .int(daysLeft), "expires_soon": .bool(daysLeft < warningDays),
        ]
        let detail = "\(leaf.subject), issued by \(leaf.issuer), expires \(Diagnostics.iso8601(leaf.notValidAfter)) (\(daysLeft) days left)"
        guard daysLeft >= 0 else { throw Failure("EXPIRED: \(detail)") }
        return (daysLeft < warningDays ? "WARNING expires within \(warningDays) days: \(detail)" : detail, figures)
    }
}
