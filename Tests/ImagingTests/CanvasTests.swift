import Testing
@testable import Imaging

@Suite struct CanvasTests {
    @Test func bt601LumaOnStoredValues() {
        let image = Image(width: 4, height: 1, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
        let gray = image.gray().pixels
        #expect(abs(gray[0] - 76.245) < 1e-3)
        #expect(abs(gray[1] - 149.685) < 1e-3)
        #expect(abs(gray[2] - 29.07) < 1e-3)
        #expect(abs(gray[3] - (0.299 * 10 + 0.587 * 20 + 0.114 * 30)) < 1e-3)
    }

    @Test func alphaCompositesOverWhite() {
        let image = Image(width: 3, height: 1, channels: 2, pixels: [0, 0, 0, 255, 100, 51])
        let gray = image.gray().pixels
        #expect(gray[0] == 255)
        #expect(gray[1] == 0)
        #expect(abs(gray[2] - (100 * 51 + 255 * 204) / 255) < 1e-3)
    }

    @Test func lfwCropIsTheCentral110Square() {
        #expect(CropBox.centered(width: 250, height: 250, crop: 110) == CropBox(x: 70, y: 70, side: 110))
        #expect(CropBox.centered(width: 200, height: 100) == CropBox(x: 50, y: 0, side: 100))
        #expect(CropBox.centered(width: 30, height: 40, crop: 500) == CropBox(x: 0, y: 5, side: 30))
    }

    @Test func cropTakesTheRightPixels() {
        let image = GrayImage(width: 5, height: 4, pixels: (0..<20).map(Float.init))
        let crop = image.cropped(to: CropBox(x: 1, y: 1, side: 3))
        #expect(crop.pixels == [6, 7, 8, 11, 12, 13, 16, 17, 18])
    }

    @Test func halvingAveragesTwoByTwoBlocks() {
        let image = GrayImage(width: 4, height: 2, pixels: [0, 4, 8, 8, 2, 6, 100, 200])
        let half = Canvas.resize(image, width: 2, height: 1)
        #expect(half.pixels == [3, 79])
    }

    @Test func areaAverageHandlesFractionalCoverage() {
        // 3 -> 2: output 0 covers source [0, 1.5), output 1 covers [1.5, 3).
        let image = GrayImage(width: 3, height: 1, pixels: [0, 30, 90])
        let out = Canvas.resize(image, width: 2, height: 1).pixels
        #expect(abs(out[0] - 10) < 1e-4)   // (0 * 1 + 30 * 0.5) / 1.5
        #expect(abs(out[1] - 70) < 1e-4)   // (30 * 0.5 + 90 * 1) / 1.5
    }

    @Test(arguments: [(250, 250, 64, 64), (7, 5, 64, 64), (64, 64, 177, 151), (100, 30, 20, 90)])
    func resizingKeepsConstantsConstant(w: Int, h: Int, tw: Int, th: Int) {
        let image = GrayImage(width: w, height: h, pixels: Array(repeating: 123.5, count: w * h))
        let out = Canvas.resize(image, width: tw, height: th)
        #expect(out.width == tw && out.height == th)
        #expect(out.pixels.allSatisfy { abs($0 - 123.5) < 1e-3 })
    }

    @Test func bicubicUpsamplingReproducesALinearRamp() {
        let ramp = GrayImage(width: 8, height: 1, pixels: (0..<8).map { Float($0) * 10 })
        let up = Canvas.resize(ramp, width: 16, height: 1).pixels
        // Away from the clamped edges, Catmull-Rom reproduces linear functions exactly.
        for x in 4..<12 { #expect(abs(up[x] - (Float(x) + 0.5) / 2 * 10 + 5) < 1e-3) }
    }

    @Test func canvasAndBackKeepAFaceRecognisable() throws {
        let face = try ImageCodec.read(Fixture.image("face-odd-177x151.jpg")).image.gray()
        let canvas = Canvas.toCanvas(face)
        #expect(canvas.width == 64 && canvas.height == 64)
        let box = CropBox.centered(width: face.width, height: face.height)
        let back = Canvas.resize(canvas, width: box.side, height: box.side)
        #expect(psnr(back.pixels, face.cropped(to: box).pixels) > 24)
    }

    @Test func bytesRoundAndClamp() {
        let gray = GrayImage(width: 5, height: 1, pixels: [-3, 0.49, 0.5, 254.6, 300])
        #expect(gray.bytes() == [0, 0, 1, 255, 255])
        #expect(GrayImage(width: 1, height: 1, pixels: [.nan]).bytes() == [0])
    }
}
