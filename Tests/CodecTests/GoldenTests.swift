import Testing
@testable import Codec
import Imaging

/// Committed .vae files made by the tiny fixture models (Fixtures/README.md). Decoding them depends only on
/// the integer tables in the model files, so the symbols must come out exactly as recorded here, forever.
@Suite struct GoldenVectorTests {
    struct Golden: Sendable, CustomTestStringConvertible {
        let file: String, model: Model, rung: Int, width: Int, height: Int, symbols: [Int32]
        var testDescription: String { file }
        enum Model: Sendable { case faces, digits, facesWithHyperprior, facesWithQuarterHyperprior }
        var codecModel: CodecModel {
            switch model {
            case .faces: CodecFixture.faces
            case .digits: CodecFixture.digits
            case .facesWithHyperprior: CodecFixture.facesWithHyperprior
            case .facesWithQuarterHyperprior: CodecFixture.facesWithQuarterHyperprior
            }
        }
    }

    static let golden: [Golden] = [
        Golden(file: "vae/face-gray-64-q1.vae", model: .faces, rung: 0, width: 64, height: 64, symbols: [0, -1, 1, -1, 0, 4, -3, -1]),
        Golden(file: "vae/face-gray-64-q60.vae", model: .faces, rung: 4, width: 64, height: 64, symbols: [1, -3, 4, -3, -2, 15, -11, -3]),
        Golden(file: "vae/face-gray-64-q100.vae", model: .faces, rung: 7, width: 64, height: 64, symbols: [4, -8, 10, -8, -6, 43, -30, -10]),
        Golden(file: "vae/digit-7-q60.vae", model: .digits, rung: 4, width: 64, height: 64, symbols: [0, -5, -5, -4, -4, 4, -1, 5]),
        Golden(file: "vae/face-odd-177x151-q60.vae", model: .faces, rung: 4, width: 177, height: 151, symbols: [2, 1, 4, -4, -3, 13, -11, -6]),
        // Two side symbols, then the eight latent symbols under the tables they choose.
        Golden(file: "vae/face-gray-64-hyper-b2.vae", model: .facesWithHyperprior, rung: 9, width: 64, height: 64, symbols: [1, -2, 1, -2, 3, -2, -1, 11, -8, -2]),
        // The same networks with tables at quarter-symbol means (codec.hyper.centre_bits = 2).
        Golden(file: "vae/face-gray-64-hyper-quarter-b2.vae", model: .facesWithQuarterHyperprior, rung: 9, width: 64, height: 64, symbols: [1, -2, 1, -2, 3, -2, -1, 11, -8, -2]),
    ]

    /// The model fingerprints the golden files were made with: a change to weights or tables changes them.
    @Test func fixtureModelFingerprints() {
        let (faces, digits) = (CodecFixture.faces.fingerprint, CodecFixture.digits.fingerprint)
        #expect(String(faces, radix: 16) == "eecf0f05a3d4f95c")
        #expect(String(digits, radix: 16) == "70c4351267db057b")
        #expect(String(CodecFixture.facesWithHyperprior.fingerprint, radix: 16) == "8ce09708975fb0e")
        #expect(String(CodecFixture.facesWithQuarterHyperprior.fingerprint, radix: 16) == "f639f833cc131966")
    }

    /// The quarter-symbol golden file's latents are coded under tables at fractions other than 0, so it pins that
    /// arithmetic and not only the whole-symbol one.
    @Test func theQuarterGoldenUsesFractionalTables() throws {
        let hyperprior = try #require(CodecFixture.facesWithQuarterHyperprior.ladder.hyperprior)
        #expect(hyperprior.centreBits == 2)
        let fractions = hyperprior.latentTables(side: [1, -2], rung: 9).map { table in
            hyperprior.bank.firstIndex { $0.frequencyTable == table.frequencyTable }.map { $0 / Hyperprior.bankSize }
        }
        #expect(fractions.allSatisfy { $0 != nil } && fractions.contains { $0 != 0 }, "\(fractions)")
    }

    @Test(arguments: golden)
    func decodesToTheRecordedSymbols(_ g: Golden) throws {
        let bytes = CodecFixture.bytes(g.file)
        let container = try Container.parse(bytes, name: g.file)
        let model = g.codecModel
        #expect(container.header.modelID == model.modelID)
        #expect(Int(container.header.rung) == g.rung)
        #expect(container.header.width == g.width && container.header.height == g.height)
        let symbols = try LatentCodec(model: model).decodeSymbols(container, name: g.file)
        #expect(symbols == g.symbols, "\(symbols)")
        // The file is exactly the header and the rANS coding of those symbols under the rung's tables.
        #expect(LatentCodec(model: model).file(symbols: g.symbols, header: container.header) == bytes)
    }

    /// Every single-bit flip is caught: by the header checks, by an unknown model id, or by the integrity check.
    @Test(arguments: golden)
    func everyBitFlipIsDetected(_ g: Golden) {
        let original = CodecFixture.bytes(g.file)
        let model = g.codecModel
        for bit in 0..<(original.count * 8) {
            var bytes = original
            bytes[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(throws: ContainerError.self, "bit \(bit)") {
                let container = try Container.parse(bytes, name: "flipped.vae")
                guard container.header.modelID == model.modelID else { throw ContainerError(file: "flipped.vae", problem: "model id") }
                _ = try LatentCodec(model: model).decodeSymbols(container, name: "flipped.vae")
            }
        }
    }

    @Test(arguments: golden)
    func everyTruncationAndExtensionIsRejected(_ g: Golden) {
        let original = CodecFixture.bytes(g.file)
        let model = g.codecModel
        var variants = (0..<original.count).map { Array(original[0..<$0]) }
        variants.append(original + [0])
        variants.append(original + original)
        for bytes in variants {
            #expect(throws: ContainerError.self, "\(bytes.count) bytes") {
                let container = try Container.parse(bytes, name: "cut.vae")
                _ = try LatentCodec(model: model).decodeSymbols(container, name: "cut.vae")
            }
        }
    }
}
