import Foundation

/// The control commands a running simulator understands (see README):
///   insert | remove | state | tear debit|credit <n> before|after | untear
/// (`tear debit 1 after`: the next DEBIT commits, then the card loses power.)
/// Replies start with `ok` or `error`.
public func handleControl<Card: SimulatedCard>(_ line: String, host: VPCDHost<Card>) -> String {
    let words = line.split(separator: " ").map(String.init)
    switch words.first {
    case "insert":
        host.insert()
        return "ok"
    case "remove":
        host.remove()
        return "ok"
    case "state":
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(host.state) else { return "error state not encodable" }
        return "ok " + String(decoding: data, as: UTF8.self)
    case "tear":
        guard words.count == 4, let command = TearSwitch.Command(rawValue: words[1]), let n = Int(words[2]), n > 0,
              let moment = TearSwitch.Moment(rawValue: words[3])
        else { return "error usage: tear debit|credit <n> before|after" }
        let armed = host.withCard { (card: inout Card) -> Bool in
            guard var purse = card as? SimulatedPurseCard else { return false }
            purse.armTear(command, nth: n, moment)
            card = purse as! Card
            return true
        }
        return armed ? "ok" : "error only a purse card tears"
    case "untear":
        host.withCard { (card: inout Card) in
            if var purse = card as? SimulatedPurseCard {
                purse.tearSwitches = []
                card = purse as! Card
            }
        }
        return "ok"
    default:
        return "error unknown command: \(line)"
    }
}
