import ClearingAPI
import Journal
import Logging

/// Closing a business day (clearing API §4): totals go only after every
/// record up to the batch's last seq is delivered; records the platform
/// reports missing are sent again before one more try.
public struct Settlement: Sendable {
    public let uploader: Uploader
    public let terminalID: String
    let service: any ClearingService
    let logger: Logger

    public init(uploader: Uploader, service: any ClearingService, terminalID: String, logger: Logger) {
        self.uploader = uploader
        self.service = service
        self.terminalID = terminalID
        self.logger = logger
    }

    public enum Outcome: Equatable, Sendable {
        case nothingToSettle
        case balanced(Batch)
        /// The platform's totals differ even after re-sending what it missed.
        case unbalanced(Batch, platformCount: Int, platformAmount: Int, missing: [Int])
        /// Records up to the batch end could not all be delivered: no totals sent.
        case undelivered(remaining: Int, ClearingError?)
        case failed(ClearingError)
    }

    public func close(until deadline: ContinuousClock.Instant? = nil) async -> Outcome {
        let journal = uploader.journal
        let delivery = await uploader.deliverAll(until: deadline)
        do {
            guard let batch = try journal.nextBatch() else { return .nothingToSettle }
            if let first = try journal.undelivered(limit: 1).first, first.record.seq <= batch.lastSeq {
                return .undelivered(remaining: journal.offlineExposure.records, delivery.lastError)
            }
            var answer = try await settle(batch)
            if answer.status != SettlementResponse.balanced, let missing = answer.missing, !missing.isEmpty {
                logger.warning("platform is missing records; sending them again", metadata: ["seqs": "\(missing)"])
                try await resend(missing)
                answer = try await settle(batch)
            }
            let balanced = answer.status == SettlementResponse.balanced
            try journal.recordSettlement(batch, balanced: balanced, detail: balanced ? nil : "platform \(answer.count ?? 0) / \(answer.amount ?? 0), missing \(answer.missing ?? [])")
            return balanced ? .balanced(batch)
                : .unbalanced(batch, platformCount: answer.count ?? 0, platformAmount: answer.amount ?? 0, missing: answer.missing ?? [])
        } catch let error as ClearingError {
            return .failed(error)
        } catch {
            return .failed(.transport("journal: \(error)"))
        }
    }

    private func settle(_ batch: Batch) async throws(ClearingError) -> SettlementResponse {
        try await service.settle(SettlementRequest(terminalID: terminalID, batchNo: batch.batchNo, firstSeq: batch.firstSeq,
                                                   lastSeq: batch.lastSeq, count: batch.count, amount: batch.amount)).body
    }

    /// Sends again records the platform says it lacks (already marked
    /// delivered here: a platform that lost them is the one at fault).
    private func resend(_ seqs: [Int]) async throws(ClearingError) {
        let records: [StoredRecord]
        do { records = try uploader.journal.records(seqs: seqs) } catch { throw .transport("journal: \(error)") }
        for start in stride(from: 0, to: records.count, by: UploadRequest.maxRecords) {
            _ = try await service.upload(records[start..<min(start + UploadRequest.maxRecords, records.count)].map(WireRecord.init))
        }
    }
}
