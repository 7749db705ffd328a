import ImageIO

/// Reading .vae files: the one place that finds a file's model, by the id in its header, among a registry's models.
/// Checking a file needs only its model's tables; decoding it loads that one model's weights.
public enum VAEFile {
    /// What `inspect` finds: the header, and whether a model of the registry decodes the payload and passes the
    /// integrity check.
    public struct Inspection: Sendable {
        public var header: ContainerHeader
        public var fileBytes: Int
        public var payloadBytes: Int
        public var headerBytes: Int { fileBytes - payloadBytes }
        /// The model that made the file and its number of rungs; nil when no model with the file's id is known.
        public var model: String?
        public var rungCount: Int?
        /// Why the check failed, when a model with the file's id is known but the payload does not pass under it.
        public var failure: ContainerError?
    }

    /// Parses a file and checks its integrity under the registry's models with its id (tables only; no weights read).
    /// - Throws: `ContainerError` when the header is malformed. A failed integrity check is reported in the result.
    public static func inspect(_ bytes: [UInt8], name: String, registry: ModelRegistry) throws -> Inspection {
        let container = try Container.parse(bytes, name: name)
        var inspection = Inspection(header: container.header, fileBytes: bytes.count, payloadBytes: container.payload.count)
        do {
            if let found = try symbols(of: container, name: name, registry: registry) {
                (inspection.model, inspection.rungCount) = (found.model, found.rungCount)
            }
        } catch let error as ContainerError {
            inspection.failure = error
        }
        return inspection
    }

    /// A decoded file: the image at its original size, its header, and the model that made it.
    public struct Decoded {
        public var image: GrayImage
        public var header: ContainerHeader
        public var model: CodecModel
    }

    /// Decodes a .vae file to its image at the width and height in its header.
    /// - Throws: `ContainerError` naming `name` when the file is malformed, damaged, or made by a model the registry
    ///   does not have; the model file's own error when it cannot be loaded.
    public static func decompress(_ bytes: [UInt8], name: String, registry: ModelRegistry) throws -> Decoded {
        let container = try Container.parse(bytes, name: name)
        guard let found = try symbols(of: container, name: name, registry: registry) else {
            let known = registry.identities().map { "\($0.name) \(hex($0.id))" }.joined(separator: ", ")
            throw ContainerError(file: name, problem: "made with model id \(hex(container.header.modelID)), which is not available "
                                 + "(known: \(known.isEmpty ? "none" : known)); pass --model PATH to that model file")
        }
        let model = try registry.model(named: found.model)
        return Decoded(image: LatentCodec(model: model).image(symbols: found.symbols, header: container.header),
                       header: container.header, model: model)
    }

    /// The model that made a file, and the file's symbols. The header names the model by an 8-bit id; when several
    /// models share it, the one whose decoding passes the integrity check is it. Nil when no model has the id.
    static func symbols(of container: Container, name: String, registry: ModelRegistry) throws
        -> (model: String, rungCount: Int, symbols: [Int32])? {
        let id = container.header.modelID
        var firstFailure: Error?
        for candidate in try registry.candidates(id: id) {
            do {
                let symbols = try LatentCodec.decodeSymbols(container, ladder: candidate.ladder, fingerprint: candidate.fingerprint,
                                                            model: candidate.name, name: name)
                return (candidate.name, candidate.ladder.rungs.count, symbols)
            } catch {
                firstFailure = firstFailure ?? error
            }
        }
        if let firstFailure { throw firstFailure }
        return nil
    }

    /// "0x2a".
    public static func hex(_ id: UInt8) -> String {
        let digits = String(id, radix: 16)
        return "0x" + String(repeating: "0", count: 2 - digits.count) + digits
    }
}
