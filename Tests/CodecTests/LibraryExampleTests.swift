import Codec
import ImageIO
import Testing

/// The README's "Use it from Swift" example, as written there: compress, decompress and denoise a face through
/// the public API with the shipped models.
@Suite struct LibraryExampleTests {
    @Test func readmeExample() throws {
        let path = CodecFixture.path("images/face-lfw-64.png")
        // --- README example starts
        let registry = ModelRegistry.shipped()  // the models shipped with vaecodec (VAECODEC_MODELS overrides)
        let face = try ImageCodec.read(path).image.gray()
        let coded = try BatchEncoder.encode([EncoderInput(image: face, hint: .png)], registry: registry,
                                            selection: "auto", target: .quality(60), settings: EncoderSettings())[0]
        let decoded = try VAEFile.decompress(coded.file, name: "face.vae", registry: registry)
        let png = try ImageCodec.encodePNG(decoded.image.image())
        let denoised = Denoiser.denoise([face], sigmas: [10], models: try registry.load("faces"))[0].image
        // --- README example ends
        #expect(coded.model.name.hasPrefix("faces") && coded.file.count < 400)
        let reread = try ImageCodec.decode(png, name: "face.png").image.gray()
        #expect(decoded.image.width == 64 && decoded.image.bytes() == reread.bytes())
        #expect(denoised.width == 64 && denoised.height == 64)
    }
}
