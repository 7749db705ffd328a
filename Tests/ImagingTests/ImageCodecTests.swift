import Testing
@testable import Imaging

@Suite struct ImageCodecTests {
    @Test(arguments: 1...4)
    func pngRoundTripIsExact(channels: Int) throws {
        var rng = SeededGenerator(state: UInt64(channels))
        let pixels = (0..<(37 * 23 * channels)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let image = Image(width: 37, height: 23, channels: channels, pixels: pixels)
        let decoded = try ImageCodec.decode(ImageCodec.encodePNG(image), name: "memory.png")
        #expect(decoded.image == image)
        #expect(decoded.format == .png)
    }

    @Test func pngTextChunkIsWritten() throws {
        let image = Image(width: 2, height: 2, channels: 1, pixels: [0, 1, 2, 3])
        let bytes = try ImageCodec.encodePNG(image, text: (key: "vaecodec-scale", value: "0.25"))
        #expect(String(decoding: bytes, as: UTF8.self).contains("vaecodec-scale\u{0}0.25"))
        #expect(try ImageCodec.decode(bytes, name: "t.png").image == image)
    }

    @Test(arguments: [(90, 34.0), (50, 30.0), (10, 24.0)])
    func jpegRoundTripStaysWithinPSNRBound(quality: Int, minimumPSNR: Double) throws {
        let face = try ImageCodec.read(Fixture.image("face-gray-64.png")).image
        let bytes = try ImageCodec.encodeJPEG(face, quality: quality)
        let decoded = try ImageCodec.decode(bytes, name: "memory.jpg")
        #expect(decoded.image.channels == 1)
        #expect(psnr(face.gray().pixels, decoded.image.gray().pixels) >= minimumPSNR)
    }

    @Test func jpegQualityOrdersFileSizes() throws {
        let face = try ImageCodec.read(Fixture.image("face-rgb.png")).image
        let small = try ImageCodec.encodeJPEG(face, quality: 20).count
        let large = try ImageCodec.encodeJPEG(face, quality: 95).count
        #expect(small < large)
        #expect(throws: ImageError.self) { try ImageCodec.encodeJPEG(face, quality: 0) }
        #expect(throws: ImageError.self) { try ImageCodec.encodeJPEG(face, quality: 101) }
    }

    @Test func jpegOfAlphaImageCompositesOverWhite() throws {
        let image = Image(width: 8, height: 8, channels: 2, pixels: Array(repeating: [0, 0], count: 64).flatMap { $0 })
        let decoded = try ImageCodec.decode(ImageCodec.encodeJPEG(image, quality: 95), name: "a.jpg").image
        #expect(decoded.channels == 1)
        #expect(decoded.pixels.allSatisfy { $0 >= 250 })
    }

    struct Variant: Sendable, CustomTestStringConvertible {
        let file: String, width: Int, height: Int, channels: Int, format: ImageFormat
        var testDescription: String { file }
    }

    @Test(arguments: [
        Variant(file: "face-rgb.png", width: 180, height: 180, channels: 3, format: .png),
        Variant(file: "face-gray-64.png", width: 64, height: 64, channels: 1, format: .png),
        Variant(file: "face-rgba.png", width: 72, height: 72, channels: 4, format: .png),
        Variant(file: "gray-alpha-40x30.png", width: 40, height: 30, channels: 2, format: .png),
        Variant(file: "face-palette.png", width: 48, height: 48, channels: 3, format: .png),
        Variant(file: "ramp-16bit-33x31.png", width: 33, height: 31, channels: 1, format: .png),
        Variant(file: "checker-1bit-32.png", width: 32, height: 32, channels: 1, format: .png),
        Variant(file: "camera-gray-97x83.png", width: 97, height: 83, channels: 1, format: .png),
        Variant(file: "face-odd-177x151.jpg", width: 177, height: 151, channels: 3, format: .jpeg),
        Variant(file: "face-gray-90.jpg", width: 90, height: 90, channels: 1, format: .jpeg),
        Variant(file: "face-progressive.jpg", width: 120, height: 120, channels: 3, format: .jpeg),
        Variant(file: "face-cmyk.jpg", width: 100, height: 100, channels: 3, format: .jpeg),
    ])
    func everyFormatVariantDecodes(variant: Variant) throws {
        let decoded = try ImageCodec.read(Fixture.image(variant.file))
        #expect(decoded.image.width == variant.width)
        #expect(decoded.image.height == variant.height)
        #expect(decoded.image.channels == variant.channels)
        #expect(decoded.format == variant.format)
    }

    @Test func sixteenBitPNGScalesToEightBitsExactly() throws {
        let decoded = try ImageCodec.read(Fixture.image("ramp-16bit-33x31.png"))
        #expect(decoded.sourceBitDepth == 16)
        for y in 0..<31 {
            for x in 0..<33 { #expect(decoded.image.pixels[y * 33 + x] == UInt8(x + y)) }
        }
    }

    @Test func oneBitPNGExpandsToFullRange() throws {
        let image = try ImageCodec.read(Fixture.image("checker-1bit-32.png")).image
        #expect(image.pixels[0] == 0 && image.pixels[8] == 255 && image.pixels[8 * 32] == 255 && image.pixels[8 * 33] == 0)
    }

    @Test func progressiveJPEGIsFlagged() throws {
        #expect(try ImageCodec.read(Fixture.image("face-progressive.jpg")).progressiveOrInterlaced)
        #expect(try !ImageCodec.read(Fixture.image("face-gray-90.jpg")).progressiveOrInterlaced)
    }

    /// The CMYK file was made from the same face as face-rgb.png, so their gray canvases must agree:
    /// an inverted-ink mistake would produce a negative.
    @Test func cmykJPEGMatchesTheRGBOriginal() throws {
        let cmyk = try ImageCodec.read(Fixture.image("face-cmyk.jpg")).image.gray()
        let rgb = Canvas.resize(try ImageCodec.read(Fixture.image("face-rgb.png")).image.gray(), width: 100, height: 100)
        #expect(psnr(cmyk.pixels, rgb.pixels) > 28)
    }

    @Test(arguments: [
        ("empty.png", "file is empty"),
        ("truncated.png", "invalid or damaged PNG: file is truncated"),
        ("truncated-header.png", "invalid or damaged PNG: file is truncated"),
        ("truncated.jpg", "invalid or damaged JPEG: Premature end of JPEG file"),
        ("wrong-magic.png", "not a PNG or JPEG image (unrecognised signature)"),
        ("text.jpg", "not a PNG or JPEG image (unrecognised signature)"),
        ("jpeg-named.png", "file extension says PNG but the content is JPEG; rename it to .jpg"),
        ("bad-crc.png", "invalid or damaged PNG:"),
        ("corrupt-scan.jpg", "invalid or damaged JPEG:"),
        ("huge-dimensions.png", "image is 100000x100000, over the limit"),
        ("huge-dimensions.jpg", "image is 60000x60000, over the limit"),
    ])
    func brokenFilesGiveOneLineNamingTheFile(file: String, expected: String) throws {
        let path = Fixture.broken(file)
        let error = #expect(throws: ImageError.self) { try ImageCodec.read(path) }
        #expect(error?.file == path)
        #expect(error?.problem.hasPrefix(expected) == true, "\(error?.problem ?? "")")
        #expect(error?.description.contains("\n") == false)
    }

    /// Row by row, to the coded region's canvases, gives what resizing the whole decoded image gives, to the bit.
    @Test(arguments: ["face-rgb.png", "face-gray-64.png", "face-odd-177x151.jpg", "face-gray-90.jpg", "face-progressive.jpg",
                      "face-cmyk.jpg", "face-rgba.png", "face-palette.png", "ramp-16bit-33x31.png", "checker-1bit-32.png",
                      "gray-alpha-40x30.png", "camera-gray-97x83.png"])
    func canvasesFromRowsMatchTheWholeImage(file: String) throws {
        let bytes = try Files.read(Fixture.image(file))
        let whole = try ImageCodec.decode(bytes, name: file).image.gray()
        for crop in [nil, 50, 1000] as [Int?] {
            let streamed = try ImageCodec.decodeCanvases(bytes, name: file, sides: [28, 64, 200]) {
                Canvas.codedRegion(width: $0, height: $1, crop: crop)
            }
            let region = Canvas.codedRegion(width: whole.width, height: whole.height, crop: crop)
            let cropped = crop.map { whole.cropped(to: CropBox.centered(width: whole.width, height: whole.height, crop: $0)) } ?? whole
            #expect((streamed.width, streamed.height) == (region.width, region.height))
            for canvas in streamed.canvases {
                let expected = Canvas.resize(cropped, width: canvas.width, height: canvas.height)
                #expect(canvas.pixels.map(\.bitPattern) == expected.pixels.map(\.bitPattern), "\(file) crop \(crop ?? 0) side \(canvas.width)")
            }
            let square = try ImageCodec.decodeCanvases(bytes, name: file, sides: [64]) { Canvas.centralSquare(width: $0, height: $1, crop: crop) }
            #expect(square.canvases[0].pixels.map(\.bitPattern) == Canvas.toCanvas(whole, crop: crop).pixels.map(\.bitPattern))
        }
    }

    /// Interlaced PNGs arrive in seven passes and are read whole first, up to their own limit of 2^24 pixels.
    @Test func interlacedRowsComeOutInOrderUpToTheirLimit() throws {
        let small = try ImageCodec.read(Fixture.root + "/hostile/png-interlaced-13x11.png")
        #expect(small.progressiveOrInterlaced)
        var expected: [UInt8] = []
        for y in 0..<11 { for x in 0..<13 { expected.append(UInt8((7 * x + 3 * y) % 256)) } }
        #expect(small.image.pixels == expected)
        let path = Fixture.root + "/hostile/png-interlaced-4097x4097.png"
        let error = #expect(throws: ImageError.self) { try ImageCodec.read(path) }
        #expect(error?.problem.hasPrefix("interlaced image is 4097x4097, over the limit for interlaced PNGs (16777216 pixels)") == true)
    }

    /// Findings 3 and 6 of the hardening review, made by Fixtures/make_hostile.py: a 61-byte PNG whose chunk
    /// declares 2 GB made libpng allocate it before failing; a palette index past the palette was read as black.
    @Test(arguments: [
        ("png-chunk-bomb.png", "invalid or damaged PNG: file is truncated (chunk tEXt declares 2147483647 bytes, 20 remain)"),
        ("png-palette-index.png", "invalid or damaged PNG: palette index 5 is past the palette's 2 entries"),
    ])
    func hostilePNGsAreRefusedAsDamage(file: String, expected: String) throws {
        let path = Fixture.root + "/hostile/" + file
        let error = #expect(throws: ImageError.self) { try ImageCodec.read(path) }
        #expect(error?.description == "\(path): \(expected)")
    }

    @Test func everyTruncationOfAValidFileIsRejected() throws {
        for file in ["face-gray-64.png", "face-gray-90.jpg"] {
            let bytes = try Files.read(Fixture.image(file))
            for length in stride(from: 0, to: bytes.count, by: 7) {
                #expect(throws: ImageError.self) { try ImageCodec.decode(Array(bytes[..<length]), name: file) }
            }
        }
    }

    @Test func randomGarbageAfterAValidSignatureNeverCrashes() {
        var rng = SeededGenerator(state: 7)
        for trial in 0..<200 {
            let signature: [UInt8] = trial % 2 == 0 ? [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] : [0xFF, 0xD8, 0xFF]
            let garbage = signature + (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(throws: ImageError.self) { try ImageCodec.decode(garbage, name: "garbage") }
        }
    }

    @Test func formatComesFromContentAndExtension() {
        #expect(ImageFormat(pathExtension: "a/b/Face.JPEG") == .jpeg)
        #expect(ImageFormat(pathExtension: "x.png") == .png)
        #expect(ImageFormat(pathExtension: "x.vae") == nil)
        #expect(ImageFormat(pathExtension: ".png") == nil)
        #expect(ImageFormat(signature: [0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(ImageFormat(signature: [0xFF, 0xD8]) == nil)
    }
}
