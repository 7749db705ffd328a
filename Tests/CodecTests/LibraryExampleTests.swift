import Foundation
import Testing
import VAECodecKit

/// The library's entry points, as the README's "Use it from Swift" and the DocC getting-started article show them,
/// and the one error type they throw.
@Suite struct LibraryExampleTests {
    @Test func readmeExample() throws {
        let pngBytes = try Files.read(CodecFixture.path("images/face-lfw-64.png"))
        // --- README example starts
        let codec = VAECodec()  // the shipped models (VAECODEC_MODELS overrides where they are found)
        let compressed = try codec.compress(imageFile: pngBytes, name: "face.png")
        let decoded = try codec.decompress(compressed.file, name: "face.vae")
        let png = try ImageCodec.encodePNG(decoded.image.image())
        let denoised = try codec.denoise(decoded.image, sigma: 10)
        // --- README example ends
        #expect(compressed.model.name.hasPrefix("faces") && compressed.file.count < 400)
        let reread = try ImageCodec.decode(png, name: "face.png").image.gray()
        #expect(decoded.image.width == 64 && decoded.image.bytes() == reread.bytes())
        #expect(denoised.image.width == 64 && denoised.image.height == 64 && !denoised.outcome.outOfDomain)
        let inspection = try codec.inspect(compressed.file, name: "face.vae")
        #expect(inspection.model == compressed.model.name && inspection.failure == nil)
    }

    /// Pixels and encoded bytes of the same image give the same file, and a batch gives each file what it gives alone.
    @Test func entryPointsAgree() throws {
        let codec = VAECodec()
        let path = CodecFixture.path("images/face-lfw-64.png")
        let face = try ImageCodec.read(path).image.gray()
        let fromPixels = try codec.compress(face, options: .init(model: "faces", effort: .fast))
        let fromBytes = try codec.compress(imageFile: try Files.read(path), name: "face.png", options: .init(model: "faces", effort: .fast))
        #expect(fromPixels.file == fromBytes.file)
        let batch = codec.decompress(files: [(fromPixels.file, "a.vae"), ([0xAE, 1, 2], "b.vae")])
        #expect(try batch[0].get().image.bytes() == codec.decompress(fromPixels.file, name: "a.vae").image.bytes())
        #expect(throws: VAECodecError.self) { try batch[1].get() }
    }

    /// Every failure comes out as a `VAECodecError` naming the input.
    @Test func errorsNameTheInput() throws {
        let codec = VAECodec()
        let face = try ImageCodec.read(CodecFixture.path("images/face-lfw-64.png")).image.gray()
        func problem(_ body: () throws(VAECodecError) -> Void) -> VAECodecError? {
            do { try body() } catch { return error }
            return nil
        }
        #expect(problem { () throws(VAECodecError) in _ = try codec.compress(imageFile: [1, 2, 3], name: "x.png") }?.file == "x.png")
        #expect(problem { () throws(VAECodecError) in _ = try codec.compress(face, options: .init(crop: 65)) }?.problem == "crop 65 is larger than the image (64x64)")
        #expect(problem { () throws(VAECodecError) in _ = try codec.compress(face, options: .init(model: "/no/such.safetensors")) }?.file == "/no/such.safetensors")
        #expect(problem { () throws(VAECodecError) in _ = try codec.decompress([0xAE], name: "t.vae") }?.file == "t.vae")
        #expect(problem { () throws(VAECodecError) in _ = try codec.denoise(GrayImage(width: 2049, height: 2048, pixels: [Float](repeating: 0, count: 2049 * 2048))) } != nil)
        let file = try codec.compress(face).file
        let unknown = problem { () throws(VAECodecError) in _ = try VAECodec(models: ModelRegistry(models: [])).decompress(file, name: "f.vae") }
        #expect(unknown?.file == "f.vae" && unknown?.problem.contains("which is not available") == true)
    }
}

/// A codec model stored with rounded weights has the tables of those weights: calibrating a network for an F16 or I8
/// file gives the ladder that calibrating the loaded file again gives.
@Suite struct CalibrationStorageTests {
    @Test(arguments: [WeightStorage.float16, .int8])
    func tablesAreFittedToTheStoredWeights(_ weights: WeightStorage) throws {
        let vae = try VAEModel(config: VAEConfig(arch: .mlp, canvas: 4, latent: 3, hidden: [8]), seed: 2)
        var rng = Xoshiro256StarStar(seed: 3)
        let data = ImageDataset(side: 4, pixels: (0..<(200 * 16)).map { _ in UInt8(rng.next() & 255) },
                                identities: (0..<200).map(Int32.init), source: "noise")
        let model = try VAECodec.calibrate(vae, name: "m", on: data, weights: weights)
        let loaded = try CodecModel.load(model.serialized(weights: weights), name: "m", path: "m")
        let again = try VAECodec.calibrate(loaded.vae, name: "m", on: data)
        #expect(model.ladder == again.ladder)
        // Fitted to the unrounded network instead, the steps differ.
        #expect(try VAECodec.calibrate(vae, name: "m", on: data).ladder != again.ladder)
        #expect(loaded.fingerprint == again.fingerprint)
    }
}
