import CSQLite
import Synchronization

/// A thin typed binding over SQLite's C API, in the manner of swift-system:
/// one connection, statements prepared once and kept, values as a small
/// enum, every failure an `SQLiteError` value carrying SQLite's own code and
/// words. It exists so the firmware's journal does not link a general ORM
/// (GRDB pulls in all of Foundation, and with it ICU's 30 MB of data).
///
/// A `Connection` is not thread-safe (it is opened `NOMUTEX`): its owner
/// serialises every use, as `Journal` does with one lock per connection.
public final class Connection {
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    public init(path: String, readOnly: Bool = false, busyTimeoutMilliseconds: Int32 = 5000) throws(SQLiteError) {
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK else {
            let error = SQLiteError(code: status, handle: handle)
            sqlite3_close_v2(handle)
            throw error
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs `sql`, which may hold several statements and takes no arguments (schema, pragmas).
    public func execute(script sql: String) throws(SQLiteError) {
        let status = sqlite3_exec(handle, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw SQLiteError(code: status, handle: handle) }
    }

    /// Runs one statement to its end, discarding any rows.
    public func run(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) {
        try query(sql, arguments) { _ in false }
    }

    /// Every row `sql` yields.
    public func rows(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> [Row] {
        var rows: [Row] = []
        try query(sql, arguments) { rows.append($0); return true }
        return rows
    }

    /// The first row `sql` yields, nil when it yields none.
    public func row(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> Row? {
        var first: Row?
        try query(sql, arguments) { first = $0; return false }
        return first
    }

    /// Whether `sql` yields a row, stepped once without reading any column
    /// (a probe on a hot path: no row, names or values are built).
    public func exists(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> Bool {
        try withStatement(sql, arguments) { statement throws(SQLiteError) in
            switch sqlite3_step(statement) {
            case SQLITE_ROW: return true
            case SQLITE_DONE: return false
            case let status: throw SQLiteError(code: status, handle: handle)
            }
        }
    }

    /// The first column of the first row, nil when there is no row or it is NULL.
    public func scalar<T: SQLiteColumnValue>(_ type: T.Type, _ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> T? {
        guard let row = try row(sql, arguments), let value = row.values.first, value != .null else { return nil }
        guard let decoded = T(sqliteValue: value) else {
            throw SQLiteError(code: SQLITE_MISMATCH, message: "\(sql): first column holds \(value.storageClass), not \(T.self)")
        }
        return decoded
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertedRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    public enum TransactionMode: String { case deferred = "DEFERRED", immediate = "IMMEDIATE" }

    /// `body` inside BEGIN … COMMIT; rolled back when it throws or the commit fails.
    public func transaction<T>(_ mode: TransactionMode, _ body: (Connection) throws -> T) throws -> T {
        try execute(script: "BEGIN \(mode.rawValue)")
        do {
            let result = try body(self)
            try execute(script: "COMMIT")
            return result
        } catch {
            // After a failed COMMIT SQLite may already have rolled back; a second failure says nothing new.
            if sqlite3_get_autocommit(handle) == 0 { _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// `body` with the cached statement for `sql`, its arguments bound; reset after.
    private func withStatement<T>(_ sql: String, _ arguments: [any SQLiteBindable],
                                  _ body: (OpaquePointer) throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        guard Int(sqlite3_bind_parameter_count(statement)) == arguments.count else {
            throw SQLiteError(code: SQLITE_RANGE, message: "\(sql): \(arguments.count) arguments for \(sqlite3_bind_parameter_count(statement)) parameters")
        }
        for (index, argument) in arguments.enumerated() {
            try bind(argument.sqliteValue, at: Int32(index + 1), of: statement)
        }
        return try body(statement)
    }

    /// Steps the cached statement for `sql`; `onRow` returns false to stop early.
    private func query(_ sql: String, _ arguments: [any SQLiteBindable], onRow: (Row) -> Bool) throws(SQLiteError) {
        try withStatement(sql, arguments) { statement throws(SQLiteError) in
            var names: [String]?
            while true {
                switch sqlite3_step(statement) {
                case SQLITE_ROW:
                    let columns = sqlite3_column_count(statement)
                    if names == nil { names = (0..<columns).map { String(cString: sqlite3_column_name(statement, $0)) } }
                    let row = Row(names: names!, values: (0..<columns).map { Self.column($0, of: statement) })
                    if !onRow(row) { return }
                case SQLITE_DONE:
                    return
                case let status:
                    throw SQLiteError(code: status, handle: handle)
                }
            }
        }
    }

    private func prepared(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw SQLiteError(code: status, handle: handle) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ value: SQLiteValue, at index: Int32, of statement: OpaquePointer) throws(SQLiteError) {
        let status: Int32 = switch value {
        case .null: sqlite3_bind_null(statement, index)
        case .integer(let integer): sqlite3_bind_int64(statement, index, integer)
        case .real(let real): sqlite3_bind_double(statement, index, real)
        case .text(let text): sqlite3_bind_text(statement, index, text, -1, posd_sqlite_transient())
        case .blob(let bytes): bytes.withUnsafeBytes {
            sqlite3_bind_blob64(statement, index, $0.baseAddress, sqlite3_uint64($0.count), posd_sqlite_transient())
        }
        }
        guard status == SQLITE_OK else { throw SQLiteError(code: status, handle: handle) }
    }

    private static func column(_ index: Int32, of statement: OpaquePointer) -> SQLiteValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let text = sqlite3_column_text(statement, index) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let bytes = sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }
}

/// A value as SQLite stores it (its five storage classes).
public enum SQLiteValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    var storageClass: String {
        switch self {
        case .null: "NULL"
        case .integer: "an integer"
        case .real: "a real"
        case .text: "text"
        case .blob: "a blob"
        }
    }
}

/// One row of a result, its columns by name. Reading a column as the wrong
/// type is an error, never a trap: the file may have been damaged or replaced.
public struct Row: Sendable {
    let names: [String]
    let values: [SQLiteValue]

    /// The column `name`, which must hold a `T` (not NULL).
    public func value<T: SQLiteColumnValue>(_ name: String, as type: T.Type = T.self) throws(SQLiteError) -> T {
        let value = try self[name]
        guard let decoded = T(sqliteValue: value) else {
            throw SQLiteError(code: SQLITE_MISMATCH, message: "column \(name) holds \(value.storageClass), not \(T.self)")
        }
        return decoded
    }

    /// The column `name`: nil when NULL, otherwise a `T`.
    public func optional<T: SQLiteColumnValue>(_ name: String, as type: T.Type = T.self) throws(SQLiteError) -> T? {
        try self[name] == .null ? nil : try value(name, as: type)
    }

    private subscript(name: String) -> SQLiteValue {
        get throws(SQLiteError) {
            guard let index = names.firstIndex(of: name) else {
                throw SQLiteError(code: SQLITE_RANGE, message: "no column \(name) in the result")
            }
            return values[index]
        }
    }
}

public struct SQLiteError: Error, Equatable, CustomStringConvertible {
    /// SQLite's extended result code.
    public var code: Int32
    public var message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    init(code: Int32, handle: OpaquePointer?) {
        let message = handle.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
        self.init(code: code, message: message)
    }

    /// Codes for failures the binding's users report themselves.
    public static let genericCode = SQLITE_ERROR, readOnlyCode = SQLITE_READONLY

    /// SQLITE_FULL: the disk (or the database's size limit) is full.
    public var isDiskFull: Bool { code & 0xff == SQLITE_FULL }

    public var description: String { "SQLite error \(code): \(message)" }
}

/// A Swift value that binds to a statement's parameter.
public protocol SQLiteBindable {
    var sqliteValue: SQLiteValue { get }
}

/// A Swift value a column decodes to (nil when the stored value is not one).
public protocol SQLiteColumnValue {
    init?(sqliteValue: SQLiteValue)
}

extension SQLiteValue: SQLiteBindable {
    public var sqliteValue: SQLiteValue { self }
}

extension Int: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .integer(Int64(self)) }
    public init?(sqliteValue: SQLiteValue) {
        guard case .integer(let value) = sqliteValue, let exact = Int(exactly: value) else { return nil }
        self = exact
    }
}

extension Int64: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .integer(self) }
    public init?(sqliteValue: SQLiteValue) {
        guard case .integer(let value) = sqliteValue else { return nil }
        self = value
    }
}

extension String: SQLiteBindable, SQLiteColumnValue {
    public var sqliteValue: SQLiteValue { .text(self) }
    public init?(sqliteValue: SQLiteValue) {
        guard case .text(let value) = sqliteValue else { return nil }
        self = value
    }
}

extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    public var sqliteValue: SQLiteValue { self?.sqliteValue ?? .null }
}

/// A connection shared between threads: every use runs under its lock, one at a time.
public final class SharedConnection: Sendable {
    private let lock = Mutex(())
    nonisolated(unsafe) private let connection: Connection  // touched only under `lock`

    public init(_ connection: sending Connection) {
        self.connection = connection
    }

    public func use<T: Sendable>(_ body: (Connection) throws -> T) throws -> T {
        try lock.withLock { _ throws -> T in try body(connection) }
    }
}
