import Foundation
import Testing
import NeuralNet
@testable import VAE
@testable import Datasets

@Suite struct ModelFileTests {
    func model(_ config: VAEConfig = VAEConfig(arch: .conv, canvas: 8, latent: 3, hidden: [2],
                                                likelihood: .gaussian(.learnedPerPixel))) throws -> VAEModel {
        try VAEModel(config: config, seed: 7)
    }

    @Test func roundTripIsBitExact() throws {
        let original = try model()
        let state = TrainingState(options: TrainingOptions(), history: [], data: "unit test", crop: 110)
        let bytes = ModelFile.serialize(original, training: state)
        let loaded = try ModelFile.load(bytes, name: "m.safetensors")
        #expect(loaded.model.config == original.config)
        #expect(loaded.model.parameters.map(\.value) == original.parameters.map(\.value))
        #expect(loaded.model.parameters.map(\.name) == original.parameters.map(\.name))
        #expect(loaded.training == state)
        #expect(ModelFile.serialize(loaded.model, training: loaded.training) == bytes)
    }

    @Test func halfPrecisionLoadsWithinHalfPrecisionError() throws {
        let original = try model()
        let loaded = try ModelFile.load(ModelFile.serialize(original, training: nil, weights: .float16), name: "h")
        for (a, b) in zip(original.parameters, loaded.model.parameters) {
            for (x, y) in zip(a.value.data, b.value.data) { #expect(abs(x - y) <= abs(x) * 1e-3 + 1e-7) }
        }
    }

    /// I8 weights: each matrix or kernel within half a step of its row's scale (max |w| / 127), vectors in F16, what
    /// `WeightStorage.stored` says loading gives back, and near a quarter of F32's bytes (headers and vectors add some).
    @Test func int8WeightsLoadWithinHalfAStepOfTheirRow() throws {
        let original = try model(VAEConfig(arch: .conv, canvas: 16, latent: 8, hidden: [8], likelihood: .gaussian(.learnedGlobal)))
        let bytes = ModelFile.serialize(original, training: nil, weights: .int8)
        let loaded = try ModelFile.load(bytes, name: "q")
        for (a, b) in zip(original.parameters, loaded.model.parameters) {
            #expect(b.value.data == WeightStorage.int8.stored(a.value.data, shape: a.value.shape), "\(a.name)")
            let rows = a.value.shape.count >= 2 ? a.value.shape[0] : 1, rowLength = a.value.data.count / rows
            for r in 0..<rows {
                let row = (r * rowLength)..<((r + 1) * rowLength)
                let step = a.value.shape.count >= 2 ? (a.value.data[row].map { abs($0) }.max() ?? 0) / 127 : 0
                for i in row { #expect(abs(a.value.data[i] - b.value.data[i]) <= step / 2 * 1.0001 + abs(a.value.data[i]) * 1e-3 + 1e-7) }
            }
        }
        let full = ModelFile.serialize(original, training: nil).count
        #expect(Double(bytes.count) < 0.35 * Double(full), "\(bytes.count) of \(full) bytes")
    }

    /// An I8 weight needs its row scales: missing, mis-shaped, negative or non-finite, the file is refused by name.
    @Test(arguments: ["missing", "shape", "negative", "nan"])
    func int8WeightsWithoutValidScalesAreRefused(defect: String) throws {
        let original = try model()
        let written = try SafeTensorsFile(bytes: ModelFile.serialize(original, training: nil, weights: .int8), name: "q")
        let weight = try #require(original.parameters.first { $0.value.shape.count >= 2 }).name
        let rows = try #require(written[weight]).shape[0]
        var file = SafeTensors(metadata: written.metadata)
        for name in written.names where name != weight + ".scale" { file.add(name, try written.entry(name)!) }
        switch defect {
        case "missing": break
        case "shape": file.add(weight + ".scale", .init([Float](repeating: 0.01, count: rows + 1), shape: [rows + 1]))
        case "negative": file.add(weight + ".scale", .init([Float](repeating: -0.01, count: rows), shape: [rows]))
        default: file.add(weight + ".scale", .init([Float](repeating: .nan, count: rows), shape: [rows]))
        }
        #expect {
            try ModelFile.load(file.serialized(), name: "bad.safetensors")
        } throws: { error in
            "\(error)".contains("bad.safetensors") && "\(error)".contains("tensor \"\(weight)\" is I8 without a valid \"\(weight).scale\"")
        }
    }

    @Test func checkpointRestoresTheOptimizer() throws {
        let original = try model()
        original.optimizer.stepCount = 17
        original.optimizer.m[0][0] = 0.25
        let loaded = try ModelFile.load(ModelFile.serialize(original, training: nil, optimizerState: true), name: "c")
        #expect(loaded.model.optimizer.stepCount == 17 && loaded.model.optimizer.m[0][0] == 0.25)
    }

    @Test func codecTensorsArePassedThrough() throws {
        let bytes = ModelFile.serialize(try model(), training: nil, extraTensors: [("codec.steps", .init([Float(1), 2], shape: [2]))])
        let loaded = try ModelFile.load(bytes, name: "x")
        #expect(loaded.extraTensors["codec.steps"]?.floats == [1, 2])
    }

    func expectRejected(_ bytes: [UInt8], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ModelFile.load(bytes, name: "bad.safetensors")
            Issue.record("accepted: \(message)", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".hasPrefix("bad.safetensors: "), sourceLocation: sourceLocation)
            #expect("\(error)".contains(message), "\(error)", sourceLocation: sourceLocation)
        }
    }

    /// Rebuilds a valid file with one thing changed.
    func edited(_ change: (inout SafeTensors) -> Void) throws -> [UInt8] {
        var file = try SafeTensors(parsing: ModelFile.serialize(try model(), training: nil), name: "x")
        change(&file)
        var rebuilt = SafeTensors(metadata: file.metadata)
        for name in file.names where file[name] != nil { rebuilt.add(name, file[name]!) }
        for (name, entry) in file.entries where !file.names.contains(name) { rebuilt.add(name, entry) }
        return rebuilt.serialized()
    }

    @Test func malformedModelsAreRejected() throws {
        expectRejected(try edited { $0.metadata["format"] = "other" }, "not a vaecodec model")
        expectRejected(try edited { $0.metadata["format_version"] = "9" }, "version 9 is not supported")
        expectRejected(try edited { $0.metadata["config"] = "{\"arch\":\"mlp\"}" }, "config missing or malformed")
        expectRejected(try edited { $0.metadata["config"] = $0.metadata["config"]!.replacingOccurrences(of: "\"canvas\":8", with: "\"canvas\":12") },
                       "conv canvas must be")
        expectRejected(try edited { $0.entries["decoder.0.bias"] = nil; $0.names.removeAll { $0 == "decoder.0.bias" } },
                       "tensor \"decoder.0.bias\" is missing")
        expectRejected(try edited { $0.entries["encoder.0.bias"] = .init([Float(1), 2, 3], shape: [3]) }, "has shape [3], expected [2]")
        expectRejected(try edited { $0.entries["encoder.0.bias"] = .init([Int32(1), 2], shape: [2]) }, "has dtype I32")
        expectRejected(try edited { $0.entries["encoder.0.bias"] = .init([.nan, 0], shape: [2]) }, "non-finite")
        expectRejected(try edited { $0.entries["extra.thing"] = .init([Float(1)], shape: [1]) }, "unexpected tensor \"extra.thing\"")
        expectRejected(try edited { $0.metadata["training"] = "{}" }, "training record")
        expectRejected(Array("not a model at all".utf8), "header length")
    }

    @Test func truncationsAreRejected() throws {
        let bytes = ModelFile.serialize(try model(), training: nil)
        for length in stride(from: 0, to: bytes.count, by: 37) {
            #expect(throws: SafeTensorsError.self) { try ModelFile.load(Array(bytes[0..<length]), name: "cut") }
        }
    }
}

@Suite struct DatasetTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path

    @Test func readsGzippedIDX() throws {
        let data = try DatasetSpec(path: Self.fixtures + "/idx/bars-6x12x12-idx3-ubyte.gz", side: 12).loadIDX(Self.fixtures + "/idx/bars-6x12x12-idx3-ubyte.gz")
        #expect(data.count == 6 && data.side == 12)
        #expect(data.pixels[2 * 12 + 1] == 255 && data.pixels[144 + 3 * 12 + 1] == 128 && data.pixels[0] == 0)
    }

    @Test func rejectsBadIDX() {
        #expect(throws: (any Error).self) { try IDXFile.images([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3], name: "short", limit: nil) }
        #expect(throws: (any Error).self) { try IDXFile.images([0, 0, 8, 1] + [UInt8](repeating: 0, count: 12), name: "labels", limit: nil) }
        #expect(throws: (any Error).self) { try IDXFile.images([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3] + [0, 0, 0, 0, 0, 0], name: "rect", limit: nil) }
        #expect(throws: (any Error).self) { try Gzip.decompressIfNeeded([0x1F, 0x8B, 8, 0, 1, 2, 3], name: "broken.gz", limit: 100) }
    }

    /// A gzip bomb stops at the limit: these 132 bytes inflate to 100,000 zeros (Python's gzip.compress, mtime 0).
    @Test func inflatingStopsAtTheLimit() throws {
        let bomb: [UInt8] = [31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 237, 193, 49, 1, 0, 0, 0, 194, 160, 245, 79, 109, 13, 15, 160]
            + [UInt8](repeating: 0, count: 96) + [128, 87, 3, 125, 149, 17, 212, 160, 134, 1, 0]
        #expect(try Gzip.decompressIfNeeded(bomb, name: "zeros.gz", limit: 100_000) == [UInt8](repeating: 0, count: 100_000))
        #expect { try Gzip.decompressIfNeeded(bomb, name: "zeros.gz", limit: 99_999) } throws: {
            "\($0)" == "zeros.gz: gzip data inflates to over 99999 bytes"
        }
    }

    @Test func identitySplitKeepsPeopleOnOneSide() {
        let identities: [Int32] = (0..<200).map { Int32($0 / 3) }
        let data = ImageDataset(side: 2, pixels: (0..<800).map { UInt8($0 & 255) }, identities: identities, source: "t")
        let (train, validation) = data.splitByIdentity(validationFraction: 0.2, seed: 5)
        #expect(train.count + validation.count == 200)
        #expect(abs(validation.count - 40) <= 3)
        #expect(Set(train.identities).isDisjoint(with: Set(validation.identities)))
        let again = data.splitByIdentity(validationFraction: 0.2, seed: 5)
        #expect(again.validation.identities == validation.identities)
    }

    @Test func fillMirrorsOnlyTheRowsAsked() {
        // Two 3x3 images with distinct pixels; the second is written mirrored left to right.
        let data = ImageDataset(side: 3, pixels: (0..<18).map(UInt8.init), identities: [0, 1], source: "t")
        let x = Tensor(shape: [2, 1, 3, 3]) { data.fill($0, with: [0, 1], augmentation: { Augmentation(mirrored: $0 == 1) }) }
        #expect(x.data.map { Int(($0 * 255).rounded()) } == [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 10, 9, 14, 13, 12, 17, 16, 15])
    }

    @Test func fillShiftsRepeatingTheEdges() {
        let data = ImageDataset(side: 3, pixels: (0..<9).map(UInt8.init), identities: [0], source: "t")
        func filled(_ move: Augmentation) -> [Int] {
            Tensor(shape: [1, 1, 3, 3]) { data.fill($0, with: [0], augmentation: { _ in move }) }.data.map { Int(($0 * 255).rounded()) }
        }
        // Right by 1 and up by 1: each row takes its left neighbour's pixel, and the bottom row repeats.
        #expect(filled(Augmentation(dx: 1, dy: -1)) == [3, 3, 4, 6, 6, 7, 6, 6, 7])
        // Mirrored, then moved left by 1.
        #expect(filled(Augmentation(mirrored: true, dx: -1)) == [1, 0, 0, 4, 3, 3, 7, 6, 6])
        #expect(filled(.none) == Array(0..<9))
    }
}

@Suite struct ParameterCountTests {
    @Test(arguments: [
        VAEConfig(arch: .mlp, canvas: 28, latent: 20, hidden: [400]),
        VAEConfig(arch: .mlp, canvas: 8, latent: 3, hidden: [16, 8], likelihood: .gaussian(.learnedPerPixel)),
        VAEConfig(arch: .conv, canvas: 16, latent: 5, hidden: [3], likelihood: .gaussian(.learnedGlobal)),
        VAEConfig.conv(canvas: 64, latent: 128, baseChannels: 32),
        VAEConfig(arch: .spatial, canvas: 64, latent: 1024, hidden: [8], likelihood: .gaussian(.learnedGlobal)),
    ])
    func configPredictsTheModelsSize(config: VAEConfig) throws {
        #expect(config.parameterCount == Double(try VAEModel(config: config, seed: 1).parameterCount))
    }

    @Test(arguments: [(24, 35, "latent 35 must be a multiple of the 3x3 grid"), (20, 16, "canvas must be a multiple of 8")])
    func spatialConfigsThatDoNotTileAreRefused(canvas: Int, latent: Int, message: String) {
        #expect { try VAEModel(config: VAEConfig(arch: .spatial, canvas: canvas, latent: latent, hidden: [2]), seed: 1) } throws: {
            "\($0)".contains(message)
        }
    }

    /// A header that describes a huge network is refused before anything is allocated.
    @Test func hugeConfigInATinyFileIsRefused() throws {
        var file = SafeTensors(metadata: ["format": "vaecodec-model", "format_version": "1",
                                          "config": "{\"arch\":\"mlp\",\"canvas\":4096,\"latent\":64,\"hidden\":[65536],\"activation\":\"relu\",\"likelihood\":{\"kind\":\"bernoulli\"}}"])
        file.add("encoder.0.weight", .init([Float(1)], shape: [1]))
        #expect { try ModelFile.load(file.serialized(), name: "huge") } throws: { "\($0)".contains("file holds only 1 values") }
    }
}

/// docs/MODEL_FORMAT.md's layer tables are the architecture spec's, and the spec is the network that is built.
@Suite struct ModelFormatDocTests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../docs/MODEL_FORMAT.md").standardized.path

    /// Each `<!-- layers CONFIG -->` block holds `CONFIG.layerTable`; with VAECODEC_UPDATE_DOCS=1 the test writes them.
    @Test func layerTablesAreTheSpecs() throws {
        let text = try String(contentsOfFile: Self.document, encoding: .utf8)
        var output = "", rest = Substring(text), blocks = 0
        while let start = rest.range(of: "<!-- layers ") {
            let header = try #require(rest[start.upperBound...].range(of: " -->"))
            let end = try #require(rest[header.upperBound...].range(of: "<!-- end layers -->"))
            let config = try JSONDecoder().decode(VAEConfig.self, from: Data(rest[start.upperBound..<header.lowerBound].utf8))
            let expected = "\n" + config.layerTable
            if ProcessInfo.processInfo.environment["VAECODEC_UPDATE_DOCS"] == nil {
                #expect(String(rest[header.upperBound..<end.lowerBound]) == expected, "stale layer table for \(config.summary)")
            }
            output += rest[..<header.upperBound] + expected + "<!-- end layers -->"
            rest = rest[end.upperBound...]
            blocks += 1
        }
        #expect(blocks == 3)
        if ProcessInfo.processInfo.environment["VAECODEC_UPDATE_DOCS"] != nil {
            try (output + rest).write(toFile: Self.document, atomically: true, encoding: .utf8)
        }
    }

    /// The spec's weight shapes are the built network's, in order, and its counts add up to the model's.
    @Test(arguments: [
        VAEConfig(arch: .mlp, canvas: 28, latent: 20, hidden: [400, 200]),
        VAEConfig.conv(canvas: 32, latent: 16, baseChannels: 4),
        VAEConfig(arch: .spatial, canvas: 32, latent: 64, hidden: [4], likelihood: .gaussian(.learnedGlobal)),
    ])
    func specIsTheBuiltNetwork(config: VAEConfig) throws {
        let model = try VAEModel(config: config, seed: 1)
        let specShapes = (config.encoderLayers + config.decoderLayers).compactMap(\.weightShape)
        let builtShapes = model.parameters.filter { $0.name.hasSuffix(".weight") }.map(\.value.shape)
        #expect(specShapes == builtShapes)
        // FLOPs written out for the conv config: Conv2d 1->4 (32->16), 4->8 (16->8), 8->16 (8->4), Linear 256->32;
        // Linear 16->256, ConvTranspose2d 16->8 (4->8), 8->4 (8->16), 4->1 (16->32).
        if config.arch == .conv {
            let multiplyAdds: [Int] = [4 * 1 * 16 * 256, 8 * 4 * 16 * 64, 16 * 8 * 16 * 16, 256 * 32,
                                       16 * 256, 16 * 8 * 16 * 16, 8 * 4 * 16 * 64, 4 * 1 * 16 * 256]
            let forward = multiplyAdds.map { 2 * Double($0) }
            #expect(config.trainingFlopsPerImage == 3 * forward.reduce(0, +) - forward[0])
        }
    }
}
