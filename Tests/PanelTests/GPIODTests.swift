import Glibc
import GPIOD
import LineIO
import Testing

/// libgpiod links and runs here through its error paths: this machine has no
/// GPIO character devices (the bench uses the board simulator instead).
@Suite struct GPIODTests {
    @Test func libraryIsVersionOne() {
        #expect(libgpiodVersion.hasPrefix("1."))
    }

    @Test func missingChipIsAnErrorValueWithItsErrno() {
        #expect {
            _ = try GPIOChip.open(name: "gpiochip0")
        } throws: { error in
            guard let error = error as? GPIOError else { return false }
            return error.errno == ENOENT && error.description.contains("gpiod_chip_open_by_name(gpiochip0)")
        }
    }
}
