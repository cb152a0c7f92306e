extension StringProtocol {
    /// Without leading and trailing white space (FoundationEssentials, which
    /// the firmware links instead of Foundation, has no `trimmingCharacters`).
    public var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
