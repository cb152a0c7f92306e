import ClearingAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Journal
import Logging
import Synchronization

/// Delivers journal records to the clearing platform (clearing API §1):
/// batches of up to 500 in ascending seq; a record counts as delivered only
/// when the platform's 200 lists it, and only if it was in that request.
public final class Uploader: Sendable {
    public let journal: Journal
    let service: any ClearingService
    let logger: Logger
    let backoff: Backoff
    let batchSize: Int
    private let health = Mutex(Health())

    /// How delivery stands, for the display and diagnostics.
    public struct Health: Equatable, Sendable {
        /// The last failure, until a request succeeds again.
        public var lastError: ClearingError?
        public var consecutiveFailures = 0
        public var lastSuccess: Date?
        /// 401/403, or a platform certificate that did not verify: wrong
        /// until a technician changes the token, enrolment or trust anchor.
        public var configurationFault: Bool { lastError?.needsTechnician ?? false }
    }

    /// One request's outcome.
    public struct BatchResult: Equatable, Sendable {
        public var sent = 0
        public var delivered = 0
        public var rejected = 0
        /// Sent but not listed in the answer: left undelivered, sent again.
        public var omitted: [Int] = []
        /// Listed in the answer but not sent: ignored.
        public var unexpected: [Int] = []
    }

    public init(journal: Journal, service: any ClearingService, logger: Logger, backoff: Backoff = Backoff(),
                batchSize: Int = UploadRequest.maxRecords) {
        self.journal = journal
        self.service = service
        self.logger = logger
        self.backoff = backoff
        self.batchSize = min(max(1, batchSize), UploadRequest.maxRecords)
    }

    public var status: Health { health.withLock { $0 } }

    /// Sends the oldest undelivered records once. Returns nil when nothing is undelivered.
    public func deliverBatch() async throws(ClearingError) -> BatchResult? {
        let stored: [StoredRecord]
        do { stored = try journal.undelivered(limit: batchSize) } catch {
            logger.error("journal unreadable for upload", metadata: ["error": "\(error)"])
            return nil
        }
        guard !stored.isEmpty else { return nil }
        let answer: Answer<UploadResponse>
        do {
            answer = try await service.upload(stored.map(WireRecord.init))
        } catch {
            noteFailure(error)
            throw error
        }
        noteSuccess(answer.serverDate)
        var result = BatchResult(sent: stored.count)
        let sent = Set(stored.map(\.record.seq))
        var verdicts: [Int: DeliveryVerdict] = [:]
        for seq in answer.body.accepted + answer.body.duplicates { verdicts[seq] = .delivered }
        for rejection in answer.body.rejected { verdicts[rejection.seq] = .rejected(rejection.reason) }
        result.unexpected = verdicts.keys.filter { !sent.contains($0) }.sorted()
        result.omitted = sent.filter { verdicts[$0] == nil }.sorted()
        if !result.unexpected.isEmpty {
            logger.error("clearing platform listed records it was not sent; ignored", metadata: ["seqs": "\(result.unexpected)"])
        }
        if !result.omitted.isEmpty {
            logger.error("clearing platform left out records it was sent; they stay undelivered", metadata: ["seqs": "\(result.omitted)"])
        }
        let valid = verdicts.filter { sent.contains($0.key) }
        for (seq, verdict) in valid where verdict != .delivered {
            logger.warning("record rejected by the clearing platform", metadata: ["seq": "\(seq)", "verdict": "\(verdict)"])
        }
        do { try journal.markDelivered(valid) } catch {
            // Not marked: they are sent again and come back as duplicates.
            logger.error("could not mark records delivered", metadata: ["error": "\(error)"])
        }
        result.delivered = valid.count
        result.rejected = valid.values.filter { $0 != .delivered }.count
        logger.info("records delivered", metadata: ["delivered": "\(result.delivered)", "rejected": "\(result.rejected)",
                                                   "undelivered": "\(journal.offlineExposure.records)"])
        return result
    }

    /// What `deliverAll` did.
    public struct Report: Equatable, Sendable {
        public var delivered = 0
        public var rejected = 0
        public var requests = 0
        public var failures = 0
        public var remaining = 0
        public var lastError: ClearingError?
    }

    /// Delivers until nothing is undelivered, backing off after failures, or
    /// until `deadline` (nil: no deadline; the terminal's background loop).
    /// A one-shot caller may stop at a configuration fault (401/403) rather
    /// than wait for a technician.
    public func deliverAll(until deadline: ContinuousClock.Instant? = nil, stopOnConfigurationFault: Bool = false) async -> Report {
        var report = Report()
        var generator = SystemRandomNumberGenerator()
        var failures = 0
        while !Task.isCancelled {
            do {
                report.requests += 1
                guard let result = try await deliverBatch() else { report.requests -= 1; break }
                failures = 0
                report.delivered += result.delivered
                report.rejected += result.rejected
                if result.delivered == 0 {
                    // A platform that lists nothing of what it was sent: do not spin on it.
                    failures += 1
                    try await pause(backoff.delay(afterFailures: failures, retryAfterSeconds: nil, using: &generator), deadline)
                }
            } catch let error as ClearingError {
                failures += 1
                report.failures += 1
                report.lastError = error
                if stopOnConfigurationFault, error.needsTechnician { break }
                var retryAfter: Int?
                if case .busy(_, let after) = error { retryAfter = after }
                let wait = backoff.delay(afterFailures: failures, retryAfterSeconds: retryAfter, configurationFault: status.configurationFault,
                                         using: &generator)
                logger.warning("upload failed; retrying", metadata: ["error": "\(error)", "retry_in_ms": "\(wait.milliseconds)"])
                do { try await pause(wait, deadline) } catch { break }
            } catch {
                break  // the deadline passed
            }
        }
        report.remaining = journal.offlineExposure.records
        return report
    }

    private struct DeadlinePassed: Error {}

    private func pause(_ wait: Duration, _ deadline: ContinuousClock.Instant?) async throws {
        if let deadline, ContinuousClock.now + wait > deadline { throw DeadlinePassed() }
        try await Task.sleep(for: wait)
    }

    private func noteFailure(_ error: ClearingError) {
        health.withLock {
            $0.lastError = error
            $0.consecutiveFailures += 1
        }
    }

    func noteSuccess(_ serverDate: Date?) {
        health.withLock {
            $0.lastError = nil
            $0.consecutiveFailures = 0
            $0.lastSuccess = Date()
        }
        ClockCorrection.follow(serverDate, journal: journal, logger: logger)
    }
}

extension WireRecord {
    /// A journalled record as uploaded.
    public init(_ stored: StoredRecord) {
        let r = stored.record
        self.init(seq: r.seq, kind: r.kind.rawValue, time: r.time, cardNo: r.cardNo, amount: r.amount, balanceBefore: r.balanceBefore,
                  cardCounter: r.cardCounter, terminalSeq: r.terminalSeq, txType: r.txType, keyVersion: r.keyVersion, algID: r.algID,
                  tac: r.tac, recovered: r.recovered, reason: r.reason, prevHash: r.prevHash, hash: stored.hash)
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
