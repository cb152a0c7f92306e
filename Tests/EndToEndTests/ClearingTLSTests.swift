import Foundation
import Journal
import Settings
import Testing
import TestSupport
import VirtualCards

/// The clearing link as deployed: HTTPS on loopback to the reference
/// platform, the terminal provisioned with its platform's CA and trusting it
/// alone. Certificates are made in the test (`TestPKI`); the card and PSAM
/// are on a pcscd of the test's own, so this runs beside the other suites.
@Suite struct ClearingTLSTests {
    @Test func theClearingLinkIsHTTPSToTheProvisionedCAOnly() async throws {
        let bench = try FieldBench(card: .testCard1())
        let (pki, clearingCA) = (bench.pki, bench.clearingCA)
        let httpsURL = try #require(bench.platform.httpsURL)
        let data = bench.data.path
        let readers = ["--card-reader", PrivatePCSCD.cardReader, "--psam-reader", PrivatePCSCD.psamReader]

        // Provisioning: HTTPS needs the CA, and the CA must be one.
        let noCA = try bench.provision(clearing: ["--clearing-url", httpsURL])
        #expect(noCA.status == 78, "\(noCA.stdout)\(noCA.stderr)")
        #expect((noCA.stdout + noCA.stderr).contains("an https clearing URL needs --clearing-ca"), "\(noCA.stdout)\(noCA.stderr)")
        let leafAsCA = try bench.provision(clearing: ["--clearing-url", httpsURL, "--clearing-ca", pki.directory.appendingPathComponent("platform.pem").path])
        #expect(leafAsCA.status == 78 && (leafAsCA.stdout + leafAsCA.stderr).contains("is not a CA certificate"), "\(leafAsCA.stdout)\(leafAsCA.stderr)")
        let provisioned = try bench.provision()
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")
        let settings = try #require(try TerminalSettings.load(from: bench.data))
        #expect(settings.clearingCA == TerminalSettings.clearingCAFileName)

        // A sale to deliver.
        bench.present()
        let sale = try bench.pcscd.runTool(["purchase", "--amount", "100", "--data-dir", data] + readers)
        #expect(sale.status == 0, "\(sale.stdout)\(sale.stderr)")

        // Platforms (or a network standing in for one) whose certificate must be refused.
        let otherCA = try pki.authority("Another CA")
        let refusals: [(label: String, server: TestPKI.ServerFiles, message: String)] = [
            ("another CA", try pki.server("other-ca", issuer: otherCA), "was not issued by the provisioned clearing CA"),
            ("wrong host", try pki.server("wrong-host", names: [.dns("clearing.example")], issuer: clearingCA), "is not for 127.0.0.1"),
            ("expired", try pki.server("expired", issuer: clearingCA, validFrom: -30 * 86_400, validUntil: -86_400), "expired on"),
            ("not yet valid", try pki.server("future", issuer: clearingCA, validFrom: 86_400, validUntil: 30 * 86_400), "is not valid before"),
            ("self-signed", try pki.server("self-signed", issuer: nil), "self-signed certificate"),
        ]
        for refusal in refusals {
            let impostor = try PlatformProcess(directory: try pki.subdirectory(refusal.label), token: bench.platform.token, tls: refusal.server)
            let url = try #require(impostor.httpsURL)
            let sync = try bench.pcscd.runTool(["sync", "--data-dir", data, "--clearing-url", url, "--deadline-seconds", "2"])
            #expect(sync.status == 78, "\(refusal.label): \(sync.stdout)\(sync.stderr)")
            #expect(sync.stdout.contains("CONFIGURATION FAULT: clearing platform not trusted, nothing sent"), "\(refusal.label): \(sync.stdout)")
            #expect(sync.stdout.contains(refusal.message), "\(refusal.label): \(sync.stdout)")
            #expect(impostor.requests.isEmpty, "\(refusal.label): a request (and its token) crossed an unverified connection: \(impostor.requests)")
            #expect(Journal(directory: bench.data, readOnly: true).offlineExposure.records == 1, "\(refusal.label): the sale is still undelivered")
        }
        let plainHTTP = try bench.pcscd.runTool(["sync", "--data-dir", data, "--clearing-url", "http://192.0.2.10:8080", "--deadline-seconds", "2"])
        #expect(plainHTTP.status == 78, "\(plainHTTP.stdout)\(plainHTTP.stderr)")
        #expect(plainHTTP.stderr.contains("plain HTTP to 192.0.2.10 refused"), "\(plainHTTP.stderr)")
        #expect(Journal(directory: bench.data, readOnly: true).offlineExposure.records == 1)
        #expect(bench.platform.requests.filter { !$0.contains(" /control/") }.isEmpty)

        // The provisioned platform: sync, load and settle over HTTPS.
        let sync = try bench.pcscd.runTool(["sync", "--data-dir", data, "--deadline-seconds", "10"])
        #expect(sync.status == 0, "\(sync.stdout)\(sync.stderr)")
        #expect(sync.stdout.contains("delivered 1 records"), "\(sync.stdout)")
        let load = try bench.pcscd.runTool(["load", "--amount", "500", "--pin", "123456", "--data-dir", data] + readers)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(bench.cardState.balance == 10_000 - 100 + 500)
        let settle = try bench.pcscd.runTool(["settle", "--data-dir", data, "--deadline-seconds", "10"])
        #expect(settle.status == 0, "\(settle.stdout)\(settle.stderr.prefix(3000))")
        #expect(settle.stdout.contains("balanced"), "\(settle.stdout)")
        let summary = try await bench.platform.summary()
        #expect(summary.records == 2 && summary.loads == 1, "\(summary)")
        let requests = bench.platform.requests.filter { !$0.contains(" /control/") }
        #expect(requests.contains { $0.hasPrefix("https POST /v1/loads") } && requests.contains { $0.hasPrefix("https POST /v1/settlements") })
        #expect(requests.allSatisfy { $0.hasPrefix("https ") && $0.hasSuffix("bearer=present") }, "\(requests)")

        // Diagnostics name the platform's certificate, and warn before it lapses.
        let report = try bench.diagnostics()
        let certificate = try #require(report.checks.first { $0.name == "clearing certificate" }, "\(report.checks.map(\.name))")
        #expect(certificate.ok, "\(certificate.detail)")
        #expect(certificate.figures["issuer"]?.text?.contains("Test Clearing CA") == true, "\(certificate.figures)")
        #expect(certificate.figures["subject"]?.text?.contains("clearing platform (platform)") == true, "\(certificate.figures)")
        #expect(certificate.figures["days_left"]?.number == 89 && certificate.figures["expires_soon"]?.flag == false, "\(certificate.figures)")

        let lapsing = try PlatformProcess(directory: try pki.subdirectory("lapsing"), token: bench.platform.token,
                                          tls: try pki.server("lapsing", issuer: clearingCA, validUntil: 10 * 86_400 + 3_600))
        var moved = settings
        moved.clearingURL = try #require(lapsing.httpsURL)
        try moved.save(in: bench.data)
        let warned = try #require(try bench.diagnostics().checks.first { $0.name == "clearing certificate" })
        #expect(warned.ok && warned.detail.hasPrefix("WARNING expires within 30 days"), "\(warned.detail)")
        #expect(warned.figures["days_left"]?.number == 10 && warned.figures["expires_soon"]?.flag == true, "\(warned.figures)")
        #expect(lapsing.requests.allSatisfy { $0.hasPrefix("https ") }, "\(lapsing.requests)")
    }
}
