import Crypto
import Foundation
import SwiftASN1
import X509

/// Certificates made in the test (swift-certificates, P-256): a clearing CA,
/// server certificates it issues, and the bad ones a hostile or neglected
/// network presents. Written as PEM into the test's own directory.
public struct TestPKI {
    public struct Authority {
        public let name: String
        let key: P256.Signing.PrivateKey
        public let certificate: Certificate
    }

    /// A server certificate and key as files, for `clearing-platform --tls-cert/--tls-key`.
    public struct ServerFiles {
        public let certificate: URL
        public let key: URL
    }

    public let directory: URL
    public let now = Date()

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A fresh directory under this one (for a platform of its own).
    public func subdirectory(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name.filter { $0.isLetter || $0.isNumber })
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    public func authority(_ name: String) throws -> Authority {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now - 86_400, notValidAfter: now + 365 * 86_400, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(key))
        return Authority(name: name, key: key, certificate: certificate)
    }

    /// The CA's certificate as a PEM file (what a technician provisions).
    public func pemFile(_ authority: Authority) throws -> URL {
        let file = directory.appendingPathComponent("\(authority.name.filter(\.isLetter)).pem")
        try authority.certificate.serializeAsPEM().pemString.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    public enum Name {
        case ip(String), dns(String)
    }

    /// A server certificate for `names`, issued by `issuer` (nil: self-signed),
    /// valid from `validFrom` to `validUntil` seconds from now.
    public func server(_ label: String, names: [Name] = [.ip("127.0.0.1")], issuer: Authority?,
                       validFrom: TimeInterval = -3_600, validUntil: TimeInterval = 90 * 86_400) throws -> ServerFiles {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName("clearing platform (\(label))") }
        let alternativeNames = try names.map { name -> GeneralName in
            switch name {
            case .dns(let host): return .dnsName(host)
            case .ip(let address):
                var v4 = in_addr()
                guard inet_pton(AF_INET, address, &v4) == 1 else { throw HarnessError("not an IPv4 address: \(address)") }
                return .ipAddress(ASN1OctetString(contentBytes: withUnsafeBytes(of: &v4) { ArraySlice($0) }))
            }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now + validFrom, notValidAfter: now + validUntil,
            issuer: issuer?.certificate.subject ?? subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames(alternativeNames)
                try ExtendedKeyUsage([.serverAuth])
            },
            issuerPrivateKey: .init(issuer?.key ?? key))
        let files = ServerFiles(certificate: directory.appendingPathComponent("\(label).pem"),
                                key: directory.appendingPathComponent("\(label).key"))
        try certificate.serializeAsPEM().pemString.write(to: files.certificate, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(to: files.key, atomically: true, encoding: .utf8)
        return files
    }
}
