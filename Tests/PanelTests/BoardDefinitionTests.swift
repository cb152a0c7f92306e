import BoardDefinition
import Foundation
import Testing
import TestSupport

@Suite struct BoardDefinitionTests {
    static let boards = Repository.path("Board/boards")

    @Test(arguments: ["sim-16x2", "sim-20x4"])
    func shippedBoardsLoad(_ name: String) throws {
        let board = try BoardDefinition.load(Self.boards.appendingPathComponent("\(name)/board.json"))
        #expect(board.name == name)
        #expect(board.lineSpecs.count == board.keypad.rows.count + board.keypad.columns.count + 9)
        #expect(board.lineSpecs.filter { $0.direction == .input }.count == board.keypad.rows.count)
    }

    static func edited(_ change: (inout [String: Any]) -> Void) throws -> URL {
        let original = Self.boards.appendingPathComponent("sim-16x2/board.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: original)) as! [String: Any]
        change(&json)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("board-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return url
    }

    static func error(_ url: URL) -> String {
        do {
            _ = try BoardDefinition.load(url)
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: ["sim-16x2", "sim-20x4"])
    func everyShippedBoardHasTheCashiersKeys(_ name: String) throws {
        let board = try BoardDefinition.load(Self.boards.appendingPathComponent("\(name)/board.json"))
        #expect(board.missingCashierKeys.isEmpty, "\(board.missingCashierKeys)")
        #expect(board.readers == BoardDefinition.benchReaders, "the bench's readers are the shipped boards' (vpcd's two slots)")
    }

    @Test func anUnknownKeyIsNamedAndAMissingOneFound() throws {
        let unknown = try Self.edited { json in
            var keypad = json["keypad"] as! [String: Any]
            keypad["labels"] = [["1", "2", "3", "CANCEL"], ["4", "5", "6", "BACK"], ["7", "8", "9", "BALANCE"], [".", "0", "F1", "ENTER"]]
            json["keypad"] = keypad
        }
        #expect(Self.error(unknown).contains(#"keypad key "F1" is not one posd knows"#), "\(Self.error(unknown))")
        let noMenu = try Self.edited { json in
            var keypad = json["keypad"] as! [String: Any]
            keypad["labels"] = [["1", "2", "3", "CANCEL"], ["4", "5", "6", "BACK"], ["7", "8", "9", "BALANCE"], [".", "0", "00", "ENTER"]]
            json["keypad"] = keypad
        }
        #expect(try BoardDefinition.load(noMenu).missingCashierKeys == ["MENU"])
    }

    @Test func sharedLinesAreNamed() throws {
        let url = try Self.edited { json in json["buzzer"] = ["offset": 9] }
        #expect(Self.error(url).contains("line 9 is used by display E and buzzer"))
    }

    @Test func keypadShapeIsChecked() throws {
        let url = try Self.edited { json in
            var keypad = json["keypad"] as! [String: Any]
            keypad["labels"] = [["1", "2", "3", "4"]]
            json["keypad"] = keypad
        }
        #expect(Self.error(url).contains("keypad labels must be 4 rows of 4"))
    }

    @Test func displaySizeIsChecked() throws {
        let url = try Self.edited { json in
            var display = json["display"] as! [String: Any]
            display["columns"] = 24
            json["display"] = display
        }
        #expect(Self.error(url).contains("display 24x2 is not 16x2 or 20x4"))
    }

    @Test func missingFieldIsNamed() throws {
        let url = try Self.edited { json in json["ledRed"] = nil }
        #expect(Self.error(url).contains("missing \"ledRed\""))
    }
}
