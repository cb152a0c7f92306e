@testable import ClearingClient
import Foundation
import Testing

/// The platform's `Date` header sets the terminal's clock correction: only
/// a well-formed IMF-fixdate may do so.
@Suite struct HTTPDateTests {
    @Test func imfFixdateParses() {
        #expect(ClearingClient.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == Date(timeIntervalSince1970: 784_111_777))
        #expect(ClearingClient.httpDate("Tue, 01 Dec 2026 22:36:00 GMT") == Date(timeIntervalSince1970: 1_796_164_560))
        #expect(ClearingClient.httpDate("Thu, 29 Feb 2024 00:00:00 GMT") == Date(timeIntervalSince1970: 1_709_164_800))
    }

    @Test(arguments: [
        "", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 +0000", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 2026 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, +6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT", "Sun, 06 Nov 1994  08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
    ])
    func anythingElseIsRefused(_ text: String) {
        #expect(ClearingClient.httpDate(text) == nil)
    }
}
