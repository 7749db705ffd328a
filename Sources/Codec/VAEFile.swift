import Imaging
import VAE

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

    /// The largest output `decompress` produces unless told otherwise: 4096 x 4096. A 19-byte file may declare
    /// 16384 x 16384, which would take seconds and over a gigabyte to produce from a 64x64 canvas; anyone can compute
    /// the integrity check, so the check does not stop that.
    public static let defaultMaxOutputPixels = 1 << 24
    /// The most a caller may raise that to: 2^25 pixels (e.g. 5792 x 5792). An output costs about 8.5 bytes a pixel
    /// while it is made and encoded (163 MB at 4096 x 4096), so this keeps `decompress` under 512 MB.
    public static let maxOutputPixels = 1 << 25

    /// Throws unless the file's declared size is within `limit` pixels.
    public static func checkOutputSize(_ header: ContainerHeader, limit: Int, name: String) throws {
        let pixels = header.width * header.height, limit = min(limit, maxOutputPixels)
        guard pixels <= limit else {
            let advice = pixels <= maxOutputPixels ? "pass --max-output-pixels \(pixels) to decode it" : "vaecodec decodes at most \(maxOutputPixels)"
            throw ContainerError(file: name, problem: "declares a \(header.width)x\(header.height) output (\(pixels) pixels), over the "
                                 + "\(limit)-pixel limit; \(advice)")
        }
    }

    /// Decodes a .vae file to its image at the width and height in its header.
    /// - Parameter maxOutputPixels: files that declare a larger output are refused before anything is decoded.
    /// - Throws: `ContainerError` naming `name` when the file is malformed, damaged, too large, or made by a model the
    ///   registry does not have; the model file's own error when it cannot be loaded.
    public static func decompress(_ bytes: [UInt8], name: String, registry: ModelRegistry,
                                  maxOutputPixels: Int = defaultMaxOutputPixels) throws -> Decoded {
        let container = try Container.parse(bytes, name: name)
        try checkOutputSize(container.header, limit: maxOutputPixels, name: name)
        guard let found = try symbols(of: container, name: name, registry: registry) else {
            throw unknownModel(container.header.modelID, name: name, registry: registry)
        }
        let model = try registry.model(named: found.model)
        return Decoded(image: LatentCodec(model: model).image(symbols: found.symbols, header: container.header),
                       header: container.header, model: model)
    }

    /// Many files at once: each file's model is found as in `decompress(_:name:registry:)`, then each model's files
    /// are decoded in batches on `workers` threads. A file that fails has its error as its result; the others are
    /// unaffected. The images are the same as one call per file gives.
    public static func decompress(_ files: [(bytes: [UInt8], name: String)], registry: ModelRegistry,
                                  maxOutputPixels: Int = defaultMaxOutputPixels, batchSize: Int = 64,
                                  workers: Int = 2) -> [Result<Decoded, Error>] {
        var results = [Result<Decoded, Error>?](repeating: nil, count: files.count)
        var byModel: [String: [(index: Int, header: ContainerHeader, symbols: [Int32])]] = [:]
        for (i, file) in files.enumerated() {
            do {
                let container = try Container.parse(file.bytes, name: file.name)
                try checkOutputSize(container.header, limit: maxOutputPixels, name: file.name)
                guard let found = try symbols(of: container, name: file.name, registry: registry) else {
                    throw unknownModel(container.header.modelID, name: file.name, registry: registry)
                }
                byModel[found.model, default: []].append((i, container.header, found.symbols))
            } catch {
                results[i] = .failure(error)
            }
        }
        for (name, coded) in byModel.sorted(by: { $0.key < $1.key }) {
            do {
                let model = try registry.model(named: name)
                let images = ModelWorkers.inBatches(coded.count, models: [model], batchSize: batchSize, workers: workers) { range, models in
                    let codec = LatentCodec(model: models[0])
                    let canvases = codec.reconstructions(coded[range].map { ($0.symbols, Int($0.header.rung)) })
                    return zip(coded[range], canvases).map { Canvas.resize($1, width: $0.header.width, height: $0.header.height) }
                }
                for (file, image) in zip(coded, images) { results[file.index] = .success(Decoded(image: image, header: file.header, model: model)) }
            } catch {
                for file in coded { results[file.index] = .failure(error) }
            }
        }
        return results.map { $0! }
    }

    static func unknownModel(_ id: UInt8, name: String, registry: ModelRegistry) -> ContainerError {
        let known = registry.identities().map { "\($0.name) \(hex($0.id))" }.joined(separator: ", ")
        return ContainerError(file: name, problem: "made with model id \(hex(id)), which is not available "
                              + "(known: \(known.isEmpty ? "none; the shipped models were not found, set VAECODEC_MODELS to their folder" : known)); "
                              + "pass --model PATH to that model file")
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
