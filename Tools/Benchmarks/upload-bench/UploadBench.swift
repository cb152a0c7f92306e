import ArgumentParser
import AsyncHTTPClient
import BenchSupport
import ClearingAPI
import ClearingClient
import ClearingPlatform
import Foundation
import Journal
import Logging
import NIOCore
import StoreAndForward

/// Store-and-forward throughput: a backlog delivered by posd's uploader to the
/// reference platform over loopback, against the platform's own ingest rate
/// (the same records posted by a bare client, no journal), in one run.
@main
struct UploadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upload-bench",
                                                    abstract: "Uploader backlog delivery versus a bare HTTP client.")

    @Option(help: "Backlog size (records).")
    var records = 50_000

    @Option(help: "Directory for the journal and the platform's database.")
    var directory = FileManager.default.temporaryDirectory.path

    func run() async throws {
        let base = try benchDirectory(under: directory, "upload-bench")
        defer { try? FileManager.default.removeItem(at: base) }
        let platform = try Platform(path: base.appendingPathComponent("platform.sqlite").path)
        let server = PlatformServer(platform: platform, host: "127.0.0.1", port: 0, control: false, logger: Logger(label: "platform"))
        let (portStream, portSink) = AsyncStream.makeStream(of: Int.self)
        let serverTask = Task { try await server.run { portSink.yield($0) } }
        defer { serverTask.cancel() }
        var ports = portStream.makeAsyncIterator()
        guard let port = await ports.next() else { throw ValidationError("platform did not start") }
        let url = "http://127.0.0.1:\(port)"

        // Two terminals with the same records: one for the bare client, one for posd's uploader.
        let bareID = "AABBCCDDEE01", posdID = "AABBCCDDEE02"
        try platform.enroll(terminalID: bareID, token: "bare-token")
        try platform.enroll(terminalID: posdID, token: "posd-token")
        print("setting up \(records) records per terminal …")
        let bareJournal = Journal(directory: base.appendingPathComponent("bare"))
        let posdJournal = Journal(directory: base.appendingPathComponent("posd"))
        for start in stride(from: 0, to: records, by: 10_000) {
            let count = min(10_000, records - start)
            try bareJournal.append(contentsOf: SyntheticSales.records(count, startingAt: start, terminalID: bareID))
            try posdJournal.append(contentsOf: SyntheticSales.records(count, startingAt: start, terminalID: posdID))
        }
        let bodies = try bareBodies(bareJournal, terminalID: bareID)

        // Baseline: the platform's ingest rate, request bodies ready in memory.
        let bareTime = try await ContinuousClock().measure {
            for body in bodies { try await post(body, url: url, terminalID: bareID, token: "bare-token") }
        }

        // posd's uploader: journal reads, requests, verdicts marked durably.
        let endpoint = try ClearingEndpoint(url: url, terminalID: posdID, token: "posd-token")
        var logger = Logger(label: "posd")
        logger.logLevel = .warning
        let uploader = Uploader(journal: posdJournal, service: try ClearingClient(endpoint: endpoint, trust: nil, logger: logger), logger: logger)
        let rssBefore = residentMiB()
        // Resident memory against progress: (records still undelivered, MiB), every 20 ms.
        let sampler = Task {
            var samples: [(left: Int, mib: Double, anon: Double)] = []
            while !Task.isCancelled {
                samples.append((posdJournal.offlineExposure.records, residentMiB(), residentMiB("RssAnon")))
                try? await Task.sleep(for: .milliseconds(20))
            }
            return samples
        }
        let started = ContinuousClock.now
        let report = await uploader.deliverAll()
        let posdTime = ContinuousClock.now - started
        sampler.cancel()
        let samples = await sampler.value + [(posdJournal.offlineExposure.records, residentMiB(), residentMiB("RssAnon"))]
        let peak = samples.map(\.mib).max() ?? rssBefore

        let summary = try platform.summary(terminalID: posdID)
        let bareRate = Double(records) / seconds(bareTime), posdRate = Double(records) / seconds(posdTime)
        print("backlog: \(records) records, \(bodies.count) requests of up to \(UploadRequest.maxRecords)")
        print(String(format: "bare client (platform ingest): %.2f s, %.0f records/s", seconds(bareTime), bareRate))
        print(String(format: "posd uploader:                 %.2f s, %.0f records/s", seconds(posdTime), posdRate))
        print(String(format: "ratio uploader/bare rate: %.2f (target >= 0.5); backlog cleared in %.2f s (target < 15 s)",
                     posdRate / bareRate, seconds(posdTime)))
        print(String(format: "resident memory: %.1f MiB before delivery, peak %.1f MiB during (+%.1f MiB)", rssBefore, peak, peak - rssBefore))
        // Flat means no growth with the records delivered: the memory at each tenth of the backlog.
        let tenths = (1...10).compactMap { tenth in samples.first { $0.left <= records - records * tenth / 10 } }
        print("  at each tenth delivered, all resident (MiB): " + tenths.map { String(format: "%.1f", $0.mib) }.joined(separator: " "))
        print("  at each tenth delivered, heap only (MiB):    " + tenths.map { String(format: "%.1f", $0.anon) }.joined(separator: " "))
        print("platform: \(summary.accepted) accepted, rejected \(summary.rejected), chain breaks \(summary.chainBreaks); "
            + "uploader: \(report.delivered) delivered, \(report.failures) failures, \(report.remaining) left")
        guard summary.accepted == records, report.remaining == 0 else { throw ExitCode(1) }
    }

    /// Upload request bodies of the bare client, built before timing.
    func bareBodies(_ journal: Journal, terminalID: String) throws -> [Data] {
        var bodies: [Data] = []
        var after = 0
        while true {
            let batch = try journal.records(after: after, limit: UploadRequest.maxRecords)
            guard let last = batch.last else { return bodies }
            let wire = batch.map(WireRecord.init)
            bodies.append(try JSONEncoder().encode(UploadRequest(terminalID: terminalID, records: wire)))
            after = last.record.seq
        }
    }

    func post(_ body: Data, url: String, terminalID: String, token: String) async throws {
        var request = HTTPClientRequest(url: url + "/v1/records")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Terminal-Id", value: terminalID)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw ValidationError("bare client got \(response.status)") }
    }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Resident memory of this process, MiB (see `statusKiB`).
    func residentMiB(_ field: String = "VmRSS") -> Double {
        Double(statusKiB(field) ?? 0) / 1024
    }
}
