import BenchSupport
import Foundation
import Journal
import TestSupport

extension SyntheticSales {
    static func records(_ count: Int, startingAt start: Int = 0) -> [ClearingRecord] {
        records(count, startingAt: start, terminalID: terminalID)
    }
}

func clearingArguments(_ platform: PlatformProcess, dataDir: URL, token: String? = nil, requestTimeoutSeconds: Int = 2) throws -> [String] {
    try platform.posdArguments(dataDir: dataDir, token: token, requestTimeoutSeconds: requestTimeoutSeconds)
}
