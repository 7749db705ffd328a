import Testing
@testable import Codec
import Imaging
import NeuralNet
import VAE

/// Finding a file's model through a registry, reading only what each step needs.
@Suite struct RegistryTests {
    static let fixtures = ModelRegistry(models: [
        (name: "tiny-faces", path: CodecFixture.path("models/tiny-faces-32.safetensors")),
        (name: "tiny-digits", path: CodecFixture.path("models/tiny-digits-32.safetensors")),
        (name: "tiny-faces-hyper", path: CodecFixture.path("models/tiny-faces-32-hyper.safetensors")),
        (name: "tiny-faces-hyper-quarter", path: CodecFixture.path("models/tiny-faces-32-hyper-quarter.safetensors")),
    ])

    /// The shipped files store the fingerprint a decoder trusts without hashing the weights: it must be theirs.
    @Test func shippedModelsStoreTheirOwnFingerprints() throws {
        let shipped = ModelRegistry.shipped()
        #expect(shipped.models.count == 10)
        for entry in shipped.models {
            let model = try shipped.model(named: entry.name)
            #expect(CodecModel.computeFingerprint(vae: model.vae, ladder: model.ladder) == model.fingerprint, "\(entry.name)")
        }
    }

    /// The committed 8-bit fixture keeps loading: I8 weights with their scales, and the fingerprint it stores is the
    /// one its dequantized weights give.
    @Test func int8FixtureLoadsWithItsOwnFingerprint() throws {
        let path = CodecFixture.path("models/tiny-faces-32-int8.safetensors")
        let file = try SafeTensorsFile(path: path)
        #expect(file["encoder.0.weight"]?.dtype == .i8 && file["encoder.0.weight.scale"]?.dtype == .f32)
        let model = try CodecModel.load(path: path, name: "int8")
        #expect(CodecModel.computeFingerprint(vae: model.vae, ladder: model.ladder) == model.fingerprint)
    }

    /// A written model stores the fingerprint that loading it computes from its weights, however they are stored.
    @Test(arguments: WeightStorage.allCases)
    func writtenModelsStoreTheirFingerprint(weights: WeightStorage) throws {
        // Weights that F16 cannot hold (the fixture's are already F16), so rounding them changes the model.
        let fixture = CodecFixture.faces
        fixture.vae.parameters[0].value.data = fixture.vae.parameters[0].value.data.map { $0 * (1 + 0x1p-13) + 1e-5 }
        let model = CodecModel(name: "model", vae: fixture.vae, ladder: fixture.ladder, training: nil)
        let bytes = model.serialized(weights: weights)
        let stored = try CodecTables.storedFingerprint(SafeTensorsFile(bytes: bytes, name: "model"))
        let loaded = try CodecModel.load(bytes, name: "model", path: "model")
        #expect(stored == CodecModel.computeFingerprint(vae: loaded.vae, ladder: loaded.ladder))
        #expect((stored == model.fingerprint) == (weights == .float32))
    }

    @Test(arguments: GoldenVectorTests.golden)
    func decompressFindsTheModelByItsID(_ g: GoldenVectorTests.Golden) throws {
        let bytes = CodecFixture.bytes(g.file)
        let decoded = try VAEFile.decompress(bytes, name: g.file, registry: Self.fixtures)
        let model = g.codecModel
        #expect(decoded.model.fingerprint == model.fingerprint)
        let expected = try LatentCodec(model: model).decompress(try Container.parse(bytes, name: g.file), name: g.file)
        #expect(decoded.image.bytes() == expected.bytes() && decoded.image.width == g.width && decoded.image.height == g.height)
        let inspection = try VAEFile.inspect(bytes, name: g.file, registry: Self.fixtures)
        #expect(inspection.model == model.name && inspection.failure == nil)
    }

    @Test func aFileOfAnUnknownModelIsAnErrorNamingTheKnownOnes() throws {
        let facesOnly = ModelRegistry(models: [(name: "tiny-faces", path: CodecFixture.path("models/tiny-faces-32.safetensors"))])
        let error = #expect(throws: ContainerError.self) {
            try VAEFile.decompress(CodecFixture.bytes("vae/digit-7-q60.vae"), name: "d.vae", registry: facesOnly)
        }
        #expect(error?.problem.contains("which is not available (known: tiny-faces 0x") == true, "\(String(describing: error))")
        let inspection = try VAEFile.inspect(CodecFixture.bytes("vae/digit-7-q60.vae"), name: "d.vae", registry: facesOnly)
        #expect(inspection.model == nil && inspection.failure == nil)
    }

    @Test func inspectReportsADamagedPayload() throws {
        var bytes = CodecFixture.bytes("vae/face-gray-64-q60.vae")
        bytes[bytes.count - 1] ^= 0x10
        let inspection = try VAEFile.inspect(bytes, name: "f.vae", registry: Self.fixtures)
        #expect(inspection.model == nil && inspection.failure != nil)
        #expect(throws: ContainerError.self) { try VAEFile.decompress(bytes, name: "f.vae", registry: Self.fixtures) }
    }
}

/// docs/MODELS.md's "At a glance" table states each shipped model's decoder cost; it must be the architecture's.
@Suite struct ModelCardTests {
    @Test func modelCardsStateEachDecodersFLOPs() throws {
        let cards = try String(contentsOfFile: CodecFixture.root + "/docs/MODELS.md", encoding: .utf8).split(separator: "\n")
        let header = try #require(cards.first { $0.hasPrefix("| model | arch") }).split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        let column = try #require(header.firstIndex(of: "decoder MFLOP"))
        let shipped = ModelRegistry.shipped()
        for entry in shipped.models {
            let model = try shipped.model(named: entry.name)
            let row = try #require(cards.first { $0.hasPrefix("| \(entry.name) |") }, "\(entry.name)").split(separator: "|")
                .map { $0.trimmingCharacters(in: .whitespaces) }
            let stated = row[column]
            #expect(stated == String(format: "%.1f", model.vae.config.decoderFlopsPerImage / 1e6), "\(entry.name): \(stated)")
        }
    }
}
