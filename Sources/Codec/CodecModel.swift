import Datasets
import EntropyCoding
import Foundation
import NeuralNet
import VAE

/// A VAE together with its rate ladder: everything `compress` and `decompress` need, in one model file.
/// The ladder lives in the file as "codec.*" tensors beside the weights:
///   codec.transmitted  I32 [T]     latent dimensions that are sent (mean KL above the threshold)
///   codec.steps        F32 [R, T]  quantization step of each rung (coarsest first) and dimension
///   codec.tables       U16 [...]   each rung's T symbol tables, one after another (SymbolTable.serialized)
///   codec.multipliers  F32 [R]     each rung's step as a multiple of the dimensions' mean posterior sigma
///   codec.hyper.*                  a hyperprior, when the model has one (`Hyperprior`, docs/FORMAT.md)
/// The fingerprint hashes the weights and the ladder, so a .vae file names exactly the model that made it. It is
/// stored in the file's metadata ("codec_fingerprint", 16 hex digits) when the file is written, so a decoder can
/// find a file's model and check its integrity from the header and tables alone, without reading or hashing the
/// weights (12 MB of them in the largest shipped model).
public final class CodecModel: ReplicableModel {
    public let name: String
    public let vae: VAEModel
    public let ladder: RateLadder
    public let training: TrainingState?
    /// FNV-1a 64 over every parameter's Float32 bit patterns (little-endian, in file order) and the codec tensors.
    public let fingerprint: UInt64

    public var modelID: UInt8 { UInt8(truncatingIfNeeded: fingerprint) }
    public var canvas: Int { vae.config.canvas }

    /// - fingerprint: the one stored in the model's file; nil computes it from the weights and the ladder.
    public init(name: String, vae: VAEModel, ladder: RateLadder, training: TrainingState?, fingerprint: UInt64? = nil) {
        self.name = name
        self.vae = vae
        self.ladder = ladder
        self.training = training
        self.fingerprint = fingerprint ?? Self.computeFingerprint(vae: vae, ladder: ladder)
    }

    /// The same model with its own layers, sharing the weights: layers keep per-call state, so each thread that
    /// runs the model needs its own.
    public func replica() -> CodecModel {
        CodecModel(name: name, vae: vae.replica(), ladder: ladder, training: training, fingerprint: fingerprint)
    }

    /// - storage: the fingerprint of the weights as a file stored that way gives them back.
    static func computeFingerprint(vae: VAEModel, ladder: RateLadder, storage: WeightStorage = .float32) -> UInt64 {
        var hash = FNV1a64()
        for p in vae.parameters { hash.add(storage.stored(p.value.data, shape: p.value.shape)) }
        for (_, entry) in ladderTensors(ladder) { hash.add(entry.bytes) }
        return hash.value
    }

    /// The metadata key of the stored fingerprint.
    static let fingerprintKey = "codec_fingerprint"

    // MARK: Fitting

    /// Encodes the training images, measures each latent dimension's KL, and fits the ladder's steps and tables.
    /// With `hyperprior` (trained networks, `Hyperprior.trained(in:file:)`), also fits it to the ladder.
    public static func fit(name: String, vae: VAEModel, on data: ImageDataset, training: TrainingState?,
                           hyperprior: Hyperprior.Trained? = nil, progress: (Int) -> Void = { _ in }) throws -> CodecModel {
        let k = vae.config.latent
        var mu = [Float](), sigma = [Float](), kl = [Double](repeating: 0, count: k)
        mu.reserveCapacity(data.count * k)
        sigma.reserveCapacity(data.count * k)
        var start = 0
        while start < data.count {
            let indices = start..<min(data.count, start + 500)
            let x = Tensor(shape: [indices.count, 1, data.side, data.side]) { data.fill($0, with: ArraySlice(indices)) }
            let (m, logvar) = vae.encode(x)
            for i in 0..<m.count {
                mu.append(m.data[i])
                sigma.append(expf(0.5 * logvar.data[i]))
                kl[i % k] += Double(ELBO.gaussianKL(mu: m.data[i], logVariance: logvar.data[i]))
            }
            start = indices.upperBound
            progress(start)
        }
        var ladder = try RateLadder.fit(mu: mu, sigma: sigma, klPerDimension: kl.map { $0 / Double(data.count) }, latentSize: k)
        if let hyperprior {
            let means = (0..<data.count).map { mu[($0 * k)..<(($0 + 1) * k)] }
            ladder = ladder.with(try Hyperprior.fit(hyperprior, ladder: ladder, means: means))
        }
        return CodecModel(name: name, vae: vae, ladder: ladder, training: training)
    }

    // MARK: Files

    /// The model file. Stored in F16 or I8 (`weights`) its weights are rounded, so the file is a different model: its
    /// stored fingerprint is that of the rounded weights, which is what loading it computes (and names its .vae files).
    public func serialized(weights: WeightStorage = .float32) -> [UInt8] {
        let stored = weights == .float32 ? fingerprint : Self.computeFingerprint(vae: vae, ladder: ladder, storage: weights)
        return ModelFile.serialize(vae, training: training, weights: weights,
                                   extraTensors: Self.ladderTensors(ladder), extraMetadata: [Self.fingerprintKey: Self.hex(stored)])
    }

    static func ladderTensors(_ ladder: RateLadder) -> [(String, SafeTensors.Entry)] {
        let transmitted = ladder.rungs.first?.quantizer.transmitted ?? []
        let steps = ladder.rungs.flatMap(\.quantizer.steps)
        let tables = ladder.rungs.flatMap { $0.tables.flatMap { $0.serialized() } }
        return [
            ("codec.transmitted", .init(transmitted.map(Int32.init), shape: [transmitted.count])),
            ("codec.steps", .init(steps, shape: [ladder.rungs.count, transmitted.count])),
            ("codec.tables", .init(tables, shape: [tables.count])),
            ("codec.multipliers", .init(ladder.rungs.map(\.stepMultiplier), shape: [ladder.rungs.count])),
        ] + (ladder.hyperprior?.tensors() ?? [])
    }

    /// Loads a model file that carries codec tables; a plain VAE file (no "codec." tensors) is refused
    /// with a hint, since without the tables nothing can be entropy-coded.
    public static func load(_ bytes: [UInt8], name: String, path: String) throws -> CodecModel {
        try load(SafeTensorsFile(bytes: bytes, name: path), name: name)
    }

    /// Loads the model file at `path`, reading each tensor once.
    public static func load(path: String, name: String) throws -> CodecModel {
        try load(SafeTensorsFile(path: path), name: name)
    }

    static func load(_ file: SafeTensorsFile, name: String) throws -> CodecModel {
        let tables = try CodecTables(file)
        let model = try ModelFile.load(file)
        return CodecModel(name: name, vae: model.model, ladder: tables.ladder, training: model.training, fingerprint: tables.storedFingerprint)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// What entropy coding needs of a codec model, read from its file without the weights: the rate ladder with its
/// tables, and the stored fingerprint (nil in files written before it was stored).
struct CodecTables {
    let ladder: RateLadder
    let storedFingerprint: UInt64?

    init(_ file: SafeTensorsFile) throws {
        let path = file.name
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: path, problem: problem) }
        let k = try ModelFile.config(of: file).latent
        guard let transmittedEntry = try file.entry("codec.transmitted"), let stepsEntry = try file.entry("codec.steps"),
              let tablesEntry = try file.entry("codec.tables"), let multipliers = try file.entry("codec.multipliers")?.floats else {
            throw fail("has no codec tables (a VAE trained elsewhere, or a checkpoint): run `vaecodec calibrate \(file.name) --data DATA -o CODEC.safetensors` to fit them")
        }
        guard let transmitted32 = transmittedEntry.int32s, let steps = stepsEntry.floats, let words = tablesEntry.uint16s,
              stepsEntry.shape.count == 2, stepsEntry.shape[1] == transmitted32.count, (1...ContainerHeader.maxRungs).contains(stepsEntry.shape[0]),
              multipliers.count == stepsEntry.shape[0],
              transmitted32.allSatisfy({ (0..<Int32(k)).contains($0) }), Set(transmitted32).count == transmitted32.count,
              steps.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw fail("codec tables are malformed")
        }
        // A table in memory is a few small arrays (no per-table decoder slots), ~130 bytes at the least: capping their
        // number at 2^17 (the shipped grid models hold 10 x 1,024) keeps a hostile file's demand near 20 MB.
        guard stepsEntry.shape[0] * transmitted32.count <= 1 << 17 else { throw fail("codec tables are malformed (too many tables)") }
        let transmitted = transmitted32.map(Int.init)
        var offset = 0
        var rungs: [Rung] = []
        do {
            for r in 0..<stepsEntry.shape[0] {
                let rungSteps = Array(steps[(r * transmitted.count)..<((r + 1) * transmitted.count)])
                let tables = try transmitted.map { _ in
                    guard offset < words.count - 2, words[offset + 2] == 14 else { throw EntropyCodingError.invalidTable("scale must be 14 bits") }
                    return try SymbolTable(reading: words, at: &offset)
                }
                rungs.append(Rung(quantizer: LatentQuantizer(latentSize: k, transmitted: transmitted, steps: rungSteps),
                                  tables: tables, stepMultiplier: multipliers[r]))
            }
        } catch {
            throw fail("codec tables are malformed (\(error))")
        }
        guard offset == words.count else { throw fail("codec tables are malformed (\(words.count - offset) words left over)") }
        ladder = RateLadder(rungs: rungs, hyperprior: try Hyperprior(file, transmitted: transmitted.count, rungCount: rungs.count))
        storedFingerprint = try Self.storedFingerprint(file)
    }

    /// The fingerprint in the file's metadata, nil when the file predates it.
    static func storedFingerprint(_ file: SafeTensorsFile) throws -> UInt64? {
        guard let text = file.metadata[CodecModel.fingerprintKey] else { return nil }
        guard text.count == 16, let value = UInt64(text, radix: 16) else {
            throw SafeTensorsError(file: file.name, problem: "codec fingerprint \"\(text)\" is not 16 hex digits")
        }
        return value
    }
}

/// FNV-1a, 64-bit: a fingerprint, not a security hash; stable across machines because it reads bit patterns.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ bytes: [UInt8]) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    }

    mutating func add(_ floats: [Float]) {
        for f in floats {
            let bits = f.bitPattern
            for shift in stride(from: 0, to: 32, by: 8) { value = (value ^ UInt64((bits >> UInt32(shift)) & 0xFF)) &* 0x0000_0100_0000_01B3 }
        }
    }
}
