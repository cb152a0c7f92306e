/// The clearing platform's messages (clearing API v1), as JSON on the wire.
/// Both sides of the contract use these types: the terminal's client and the
/// reference platform under Tools/. Field names are the contract's.

/// `POST /v1/records` request. Records travel as their stored canonical JSON
/// plus `hash`, byte for byte as journalled, so the platform hashes exactly
/// what the terminal hashed.
public struct UploadRequest: Codable, Sendable {
    public var terminalID: String
    public var records: [WireRecord]

    public init(terminalID: String, records: [WireRecord]) {
        self.terminalID = terminalID
        self.records = records
    }

    enum CodingKeys: String, CodingKey {
        case terminalID = "terminal_id", records
    }

    /// At most this many records in one request (`413` beyond).
    public static let maxRecords = 500
}

/// One record as uploaded: every field of the contract's `Record`.
public struct WireRecord: Codable, Equatable, Sendable {
    public var seq: Int
    public var kind: String
    public var time: String
    public var cardNo: String
    public var amount: Int
    public var balanceBefore: Int
    public var cardCounter: Int
    public var terminalSeq: Int?
    public var txType: Int?
    public var keyVersion: Int?
    public var algID: Int?
    public var tac: String?
    public var recovered: Bool?
    public var reason: String?
    public var prevHash: String
    public var hash: String

    public init(seq: Int, kind: String, time: String, cardNo: String, amount: Int, balanceBefore: Int, cardCounter: Int,
                terminalSeq: Int?, txType: Int?, keyVersion: Int?, algID: Int?, tac: String?, recovered: Bool?, reason: String?,
                prevHash: String, hash: String) {
        self.seq = seq
        self.kind = kind
        self.time = time
        self.cardNo = cardNo
        self.amount = amount
        self.balanceBefore = balanceBefore
        self.cardCounter = cardCounter
        self.terminalSeq = terminalSeq
        self.txType = txType
        self.keyVersion = keyVersion
        self.algID = algID
        self.tac = tac
        self.recovered = recovered
        self.reason = reason
        self.prevHash = prevHash
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case seq, kind, time, amount, tac, recovered, reason, hash
        case cardNo = "card_no", balanceBefore = "balance_before", cardCounter = "card_counter"
        case terminalSeq = "terminal_seq", txType = "tx_type", keyVersion = "key_version", algID = "alg_id"
        case prevHash = "prev_hash"
    }
}

/// `POST /v1/records` answer `200`: every record listed is delivered.
public struct UploadResponse: Codable, Equatable, Sendable {
    public struct Rejection: Codable, Equatable, Sendable {
        public var seq: Int
        public var reason: String
        public init(seq: Int, reason: String) {
            self.seq = seq
            self.reason = reason
        }
    }

    public var accepted: [Int]
    public var duplicates: [Int]
    public var rejected: [Rejection]

    public init(accepted: [Int] = [], duplicates: [Int] = [], rejected: [Rejection] = []) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.rejected = rejected
    }
}

/// `GET /v1/blacklist?since=` answer.
public struct HotListUpdate: Codable, Equatable, Sendable {
    public var version: Int
    public var full: Bool
    public var add: [String]
    public var remove: [String]

    public init(version: Int, full: Bool, add: [String], remove: [String]) {
        self.version = version
        self.full = full
        self.add = add
        self.remove = remove
    }
}

/// `GET /v1/parameters` answer.
public struct Parameters: Codable, Equatable, Sendable {
    public struct Fares: Codable, Equatable, Sendable {
        public var flat: Int
        public var transferWindowSeconds: Int
        public var transferDiscount: Int

        public init(flat: Int, transferWindowSeconds: Int, transferDiscount: Int) {
            self.flat = flat
            self.transferWindowSeconds = transferWindowSeconds
            self.transferDiscount = transferDiscount
        }

        enum CodingKeys: String, CodingKey {
            case flat, transferWindowSeconds = "transfer_window_s", transferDiscount = "transfer_discount"
        }
    }

    public var version: Int
    public var merchantID: String
    public var maxPurchase: Int
    public var maxBalance: Int
    public var maxLoad: Int
    public var maxLoadsPerDay: Int
    public var maxOfflineRecords: Int
    public var maxOfflineAmount: Int
    public var maxOfflineHours: Int
    public var fares: Fares

    public init(version: Int, merchantID: String, maxPurchase: Int, maxBalance: Int, maxLoad: Int, maxLoadsPerDay: Int,
                maxOfflineRecords: Int, maxOfflineAmount: Int, maxOfflineHours: Int, fares: Fares) {
        self.version = version
        self.merchantID = merchantID
        self.maxPurchase = maxPurchase
        self.maxBalance = maxBalance
        self.maxLoad = maxLoad
        self.maxLoadsPerDay = maxLoadsPerDay
        self.maxOfflineRecords = maxOfflineRecords
        self.maxOfflineAmount = maxOfflineAmount
        self.maxOfflineHours = maxOfflineHours
        self.fares = fares
    }

    /// Why these values cannot be applied, or nil. Every amount must fit the
    /// card's 32-bit fen and every count and duration be non-negative and
    /// sane: the terminal computes with them on every tap.
    public var problem: String? {
        let amounts = [("max_purchase", maxPurchase), ("max_balance", maxBalance), ("max_load", maxLoad),
                       ("max_offline_amount", maxOfflineAmount), ("fares.flat", fares.flat), ("fares.transfer_discount", fares.transferDiscount)]
        for (name, value) in amounts where !(0...Int(UInt32.max)).contains(value) {
            return "\(name) \(value) is not an amount in fen"
        }
        let counts = [("version", version, Int(Int32.max)), ("max_loads_per_day", maxLoadsPerDay, 10_000),
                      ("max_offline_records", maxOfflineRecords, 100_000_000), ("max_offline_hours", maxOfflineHours, 24 * 366 * 10),
                      ("fares.transfer_window_s", fares.transferWindowSeconds, 7 * 24 * 3600)]
        for (name, value, most) in counts where !(0...most).contains(value) {
            return "\(name) \(value) is outside 0...\(most)"
        }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case version, fares
        case merchantID = "merchant_id", maxPurchase = "max_purchase", maxBalance = "max_balance", maxLoad = "max_load"
        case maxLoadsPerDay = "max_loads_per_day", maxOfflineRecords = "max_offline_records"
        case maxOfflineAmount = "max_offline_amount", maxOfflineHours = "max_offline_hours"
    }
}

/// `POST /v1/settlements` request.
public struct SettlementRequest: Codable, Equatable, Sendable {
    public var terminalID: String
    public var batchNo: Int
    public var firstSeq: Int
    public var lastSeq: Int
    public var count: Int
    public var amount: Int

    public init(terminalID: String, batchNo: Int, firstSeq: Int, lastSeq: Int, count: Int, amount: Int) {
        self.terminalID = terminalID
        self.batchNo = batchNo
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.count = count
        self.amount = amount
    }

    enum CodingKeys: String, CodingKey {
        case count, amount
        case terminalID = "terminal_id", batchNo = "batch_no", firstSeq = "first_seq", lastSeq = "last_seq"
    }
}

/// `POST /v1/settlements` answer.
public struct SettlementResponse: Codable, Equatable, Sendable {
    public var status: String
    public var count: Int?
    public var amount: Int?
    public var missing: [Int]?

    public init(status: String, count: Int? = nil, amount: Int? = nil, missing: [Int]? = nil) {
        self.status = status
        self.count = count
        self.amount = amount
        self.missing = missing
    }

    public static let balanced = "balanced"
    public static let unbalanced = "unbalanced"
}

/// `POST /v1/loads` request.
public struct LoadRequest: Codable, Equatable, Sendable {
    public var terminalID: String
    public var cardNo: String
    public var amount: Int
    public var balanceBefore: Int
    public var cardCounter: Int
    public var random: String
    public var mac1: String
    public var time: String

    public init(terminalID: String, cardNo: String, amount: Int, balanceBefore: Int, cardCounter: Int, random: String,
                mac1: String, time: String) {
        self.terminalID = terminalID
        self.cardNo = cardNo
        self.amount = amount
        self.balanceBefore = balanceBefore
        self.cardCounter = cardCounter
        self.random = random
        self.mac1 = mac1
        self.time = time
    }

    enum CodingKeys: String, CodingKey {
        case amount, random, mac1, time
        case terminalID = "terminal_id", cardNo = "card_no", balanceBefore = "balance_before", cardCounter = "card_counter"
    }
}

/// `POST /v1/loads` answer `200`.
public struct LoadResponse: Codable, Equatable, Sendable {
    public var mac2: String
    public init(mac2: String) { self.mac2 = mac2 }
}

/// The body of `400` and `402`.
public struct Refusal: Codable, Equatable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}
