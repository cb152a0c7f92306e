import ClearingAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Journal
import Logging

/// Parameters and hot list from the platform (clearing API §2, §3): fetched
/// on start and periodically, applied atomically, kept in the journal's
/// database so the terminal works from them offline.
public struct PlatformSync: Sendable {
    public let journal: Journal
    let service: any ClearingService
    let logger: Logger

    static let parametersKey = "parameters"
    static let etagKey = "parameters_etag"

    public init(journal: Journal, service: any ClearingService, logger: Logger) {
        self.journal = journal
        self.service = service
        self.logger = logger
    }

    /// Stored parameters that are there but cannot be read or decoded.
    public struct UnreadableParameters: Error, CustomStringConvertible {
        public var description: String
    }

    /// The parameters last received, or nil when none have been. Throws when
    /// they are stored but unreadable: limits must then not fall back to defaults.
    public static func storedParameters(in journal: Journal) throws(UnreadableParameters) -> Parameters? {
        let text: String?
        do { text = try journal.setting(parametersKey) } catch {
            throw UnreadableParameters(description: "stored parameters unreadable: \(error)")
        }
        guard let text else { return nil }
        let parameters: Parameters
        do { parameters = try JSONDecoder().decode(Parameters.self, from: Data(text.utf8)) } catch {
            throw UnreadableParameters(description: "stored parameters do not decode: \(error)")
        }
        if let problem = parameters.problem { throw UnreadableParameters(description: "stored parameters invalid: \(problem)") }
        return parameters
    }

    /// Fetches the parameters (conditional on the stored ETag); returns them when they changed.
    @discardableResult
    public func refreshParameters() async throws(ClearingError) -> Parameters? {
        let etag = (try? journal.setting(Self.etagKey)) ?? nil
        // Without readable parameters the next answer must be whole, not a 304.
        let held = (try? Self.storedParameters(in: journal)) ?? nil
        let answer = try await service.parameters(ifNoneMatch: held == nil ? nil : etag)
        ClockCorrection.follow(answer.serverDate, journal: journal, logger: logger)
        guard case .changed(let parameters, let newTag) = answer.body else { return nil }
        // Values a tap cannot compute with are never stored: the ones held stay in force.
        if let problem = parameters.problem { throw .malformedAnswer("parameters: \(problem)") }
        do {
            let encoded = String(decoding: try JSONEncoder().encode(parameters), as: UTF8.self)
            try journal.setSettings([Self.parametersKey: encoded, Self.etagKey: newTag ?? ""])
        } catch {
            logger.error("could not store parameters", metadata: ["error": "\(error)"])
            return nil
        }
        logger.notice("parameters applied", metadata: ["version": "\(parameters.version)"])
        return parameters
    }

    /// Fetches the hot list changes since the stored version and applies them
    /// (a full list replaces). Returns the version now held.
    @discardableResult
    public func refreshHotList() async throws(ClearingError) -> Int {
        let held = (try? journal.hotListVersion) ?? 0
        let answer = try await service.hotList(since: held)
        ClockCorrection.follow(answer.serverDate, journal: journal, logger: logger)
        let update = answer.body
        guard update.full || update.version != held else { return held }
        do {
            try journal.applyHotList(version: update.version, full: update.full, add: update.add, remove: update.remove)
        } catch {
            throw .malformedAnswer("hot list version \(update.version) not applied: \(error)")
        }
        // A full list at the version already held is the platform's usual
        // answer for version 0: applied again, but not news worth a notice.
        logger.log(level: update.version == held ? .info : .notice, "hot list applied", metadata: ["version": "\(update.version)", "full": "\(update.full)",
                                                     "add": "\(update.add.count)", "remove": "\(update.remove.count)"])
        return update.version
    }
}
