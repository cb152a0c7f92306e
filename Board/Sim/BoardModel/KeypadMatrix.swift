/// A keypad matrix as wires: each pressed key joins its row and its column.
/// Rows are inputs with pull-ups (high when floating); the driver pulls one
/// column low at a time. A row reads low when it is joined, through any chain
/// of pressed keys, to a column driven low: the same ghosting a real matrix
/// without diodes has.
public struct KeypadMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public private(set) var pressed: Set<Position> = []

    public struct Position: Hashable, Sendable {
        public var row: Int
        public var column: Int
        public init(row: Int, column: Int) {
            self.row = row
            self.column = column
        }
    }

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }

    public mutating func press(_ key: Position) { pressed.insert(key) }
    public mutating func release(_ key: Position) { pressed.remove(key) }

    /// Row levels for the given column levels (`true` = high). Undriven
    /// columns are passed as high (released, pulled up).
    public func rowLevels(columnLevels: [Bool]) -> [Bool] {
        // Nets: rows are 0..<rows, columns rows..<rows+columns; pressed keys join them.
        var parent = Array(0..<(rows + columns))
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { x = parent[x] }
            return x
        }
        for key in pressed { parent[find(key.row)] = find(rows + key.column) }
        let lowNets = Set(columnLevels.enumerated().filter { !$0.element }.map { find(rows + $0.offset) })
        return (0..<rows).map { !lowNets.contains(find($0)) }
    }
}
