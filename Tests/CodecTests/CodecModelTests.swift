import Foundation
import Datasets
import Testing
import NeuralNet
import VAE
@testable import Codec
import Imaging

@Suite struct CodecModelTests {
    @Test func fileRoundTripKeepsWeightsTablesAndFingerprint() throws {
        let model = CodecFixture.faces
        let reloaded = try CodecModel.load(model.serialized(weights: .float16), name: "again", path: "again")
        #expect(reloaded.fingerprint == model.fingerprint)
        #expect(reloaded.ladder == model.ladder)
    }

    @Test func plainVAEFileIsRefusedWithAHint() throws {
        let vae = try VAEModel(config: VAEConfig(arch: .mlp, canvas: 8, latent: 2, hidden: [4]), seed: 1)
        #expect {
            try CodecModel.load(ModelFile.serialize(vae, training: nil), name: "plain", path: "plain.safetensors")
        } throws: { "\($0)".contains("plain.safetensors: has no codec tables") }
    }

    @Test func malformedTablesAreRefused() throws {
        var file = try SafeTensors(parsing: CodecFixture.faces.serialized(), name: "x")
        var words = file["codec.tables"]!.uint16s!
        words.removeLast()
        file.entries["codec.tables"] = .init(words, shape: [words.count])
        var rebuilt = SafeTensors(metadata: file.metadata)
        for name in file.names { rebuilt.add(name, file[name]!) }
        #expect { try CodecModel.load(rebuilt.serialized(), name: "bad", path: "bad.safetensors") } throws: {
            "\($0)".contains("codec tables are malformed")
        }
    }

    /// Fitting on data: inactive dimensions are not transmitted, finer rungs have smaller steps.
    @Test func fitBuildsAnOrderedLadder() throws {
        let vae = try VAEModel(config: VAEConfig(arch: .mlp, canvas: 4, latent: 3, hidden: [8]), seed: 2)
        var rng = Xoshiro256StarStar(seed: 3)
        let data = ImageDataset(side: 4, pixels: (0..<(200 * 16)).map { _ in UInt8(rng.next() & 255) },
                                identities: (0..<200).map(Int32.init), source: "noise")
        let model = try CodecModel.fit(name: "fit", vae: vae, on: data, training: nil)
        let steps = model.ladder.rungs.map { $0.quantizer.steps }
        for r in 1..<steps.count { #expect(zip(steps[r], steps[r - 1]).allSatisfy { $0 < $1 }) }
        #expect(model.ladder.rungs.count == RateLadder.stepMultipliers.count)
    }

    /// A spatial model (a 2x2 grid of 3-channel latents here) fits its ladder, survives its file, and codes an image.
    @Test func spatialModelFitsAndCodes() throws {
        let config = VAEConfig(arch: .spatial, canvas: 16, latent: 12, hidden: [2], likelihood: .gaussian(.learnedGlobal))
        let vae = try VAEModel(config: config, seed: 2)
        // Untrained means hardly vary, so no dimension would be sent: widen the last encoder layer's output.
        let head = vae.encoder.parameters[vae.encoder.parameters.count - 2]
        head.value.data = head.value.data.map { $0 * 50 }
        var rng = Xoshiro256StarStar(seed: 3)
        let data = ImageDataset(side: 16, pixels: (0..<(100 * 256)).map { _ in UInt8(rng.next() & 255) },
                                identities: (0..<100).map(Int32.init), source: "noise")
        let model = try CodecModel.fit(name: "grid", vae: vae, on: data, training: nil)
        #expect(model.ladder.rungs[0].quantizer.transmitted.count > 6)
        let reloaded = try CodecModel.load(model.serialized(), name: "again", path: "again")
        #expect(reloaded.ladder == model.ladder && reloaded.fingerprint == model.fingerprint)
        let codec = LatentCodec(model: reloaded)
        let image = GrayImage(width: 16, height: 16, pixels: (0..<256).map { Float($0) })
        let file = codec.compress(image, rung: 5, hint: .png)
        let symbols = try codec.decodeSymbols(Container.parse(file, name: "g"), name: "g")
        #expect(symbols == codec.symbols(mean: codec.means([codec.canvas(of: image).canvas])[0], rung: 5))
    }
}

@Suite struct RoundTripTests {
    @Test(arguments: ["face-gray-64.png", "face-odd-177x151.jpg", "face-rgb.png", "camera-gray-97x83.png"])
    func compressDecompressRestoresSizeAndMatchesTheCanvasReconstruction(_ name: String) throws {
        let image = CodecFixture.image(name)
        let codec = LatentCodec(model: CodecFixture.faces)
        for rung in [0, 4, 7] {
            let file = codec.compress(image, rung: rung, hint: .png)
            #expect(file == codec.compress(image, rung: rung, hint: .png), "same input, same bytes")
            let container = try Container.parse(file, name: name)
            #expect(container.header.width == image.width && container.header.height == image.height)
            let decoded = try codec.decompress(container, name: name)
            #expect(decoded.width == image.width && decoded.height == image.height)
            // The decoded canvas is the decoder's mean at the dequantized symbols: what RateControl measured.
            let symbols = try codec.decodeSymbols(container, name: name)
            let canvas = codec.reconstructions([symbols], rung: rung)[0]
            #expect(Canvas.resize(canvas, width: image.width, height: image.height) == decoded)
            #expect(file.count <= 3 + 6 + 4 + 16)  // 8 latents of a tiny model: a handful of payload bytes
        }
    }

    @Test func cropEncodesTheCentralSquareAtItsOwnSize() throws {
        let codec = LatentCodec(model: CodecFixture.faces)
        let file = codec.compress(CodecFixture.image("face-rgb.png"), rung: 3, crop: 100, hint: .jpeg)
        let header = try Container.parse(file, name: "c").header
        #expect(header.width == 100 && header.height == 100 && header.formatHint == .jpeg)
    }

    /// Reconstructions improve, and files grow, from the coarsest rung to the finest (on average).
    @Test func finerRungsCostMoreAndLoseLess() {
        let codec = LatentCodec(model: CodecFixture.faces)
        let images = ["face-gray-64.png", "face-rgb.png", "face-gray-90.jpg", "face-progressive.jpg"].map(CodecFixture.image)
        func meanLatentError(_ rung: Int) -> Double {
            images.map { image in
                let mean = codec.means([codec.canvas(of: image).canvas])[0]
                let z = CodecFixture.faces.ladder.rungs[rung].quantizer.dequantize(codec.symbols(mean: mean, rung: rung))
                return zip(mean, z).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            }.reduce(0, +)
        }
        #expect(meanLatentError(7) < meanLatentError(4) && meanLatentError(4) < meanLatentError(0))
        let bytes = { (rung: Int) in images.reduce(0) { $0 + codec.compress($1, rung: rung, hint: .png).count } }
        #expect(bytes(0) < bytes(7))
    }
}

@Suite struct RateControlTests {
    @Test func priceFallsGeometricallyWithQuality() {
        #expect(abs(QualityScale.decibelsPerBit(forQuality: 1) - 0.1) < 1e-12)
        #expect(abs(QualityScale.decibelsPerBit(forQuality: 100) - 0.000_316_227_766_016_837_9) < 1e-12)
        let price = QualityScale.decibelsPerBit(forQuality:)
        #expect(abs(price(51) / price(50) - price(2) / price(1)) < 1e-12 && price(2) < price(1))
    }

    /// Each quality picks the candidate of least -PSNR + price * bits, so files never shrink as quality rises,
    /// and the top of the scale reaches the most faithful candidate.
    @Test func qualityPicksTheLagrangianOptimum() {
        let image = CodecFixture.image("face-gray-64.png")
        let candidates = RateControl.candidates(image, models: [CodecFixture.faces], hint: .png)
        #expect(candidates.count == CodecFixture.faces.ladder.rungs.count)
        let choices = (1...100).map { RateControl.choose(among: candidates, target: .quality($0)) }
        #expect(zip(choices, choices.dropFirst()).allSatisfy { $0.file.count <= $1.file.count })
        for (q, choice) in zip(1..., choices) {
            let price = QualityScale.decibelsPerBit(forQuality: q)
            #expect(candidates.allSatisfy { -choice.canvasPSNR + price * Double(choice.file.count * 8) <= -$0.canvasPSNR + price * Double($0.file.count * 8) })
        }
        #expect(choices.last!.canvasSSE <= candidates.map(\.canvasSSE).min()! * 1.05)
        let viaEncode = RateControl.encode(image, models: [CodecFixture.faces], target: .quality(60), hint: .png,
                                           refiner: LatentRefiner(steps: 0))
        #expect(viaEncode.file == choices[59].file)
    }

    /// The fixture model's candidates barely trade quality for bits, so this uses the shipped faces family, whose
    /// ladders do: every quality keeps the least -PSNR + price * bits (written out here), the picks climb the
    /// ladders, and the price turned into squared error at the chosen candidate refines better than a lambda a
    /// thousand times smaller or larger.
    @Test func shippedFacesPickAndRefineByTheDecibelPrice() throws {
        let models = try ModelRegistry.shipped().load("faces")
        let candidates = RateControl.candidates(CodecFixture.image("face-gray-64.png"), models: models, hint: .png)
        var picks = Set<[UInt8]>()
        for quality in stride(from: 1, through: 100, by: 3) {
            let price = Foundation.pow(10, -1 - 2.5 * Double(quality - 1) / 99)
            let cost = { (c: EncodingChoice) in -c.canvasPSNR + price * Double(c.file.count * 8) }
            let choice = RateControl.choose(among: candidates, target: .quality(quality))
            #expect(candidates.allSatisfy { cost(choice) <= cost($0) })
            picks.insert(choice.file)
        }
        #expect(picks.count >= 5)

        let quality = 45, choice = RateControl.choose(among: candidates, target: .quality(quality))
        let lambda = choice.lambda(decibelsPerBit: QualityScale.decibelsPerBit(forQuality: quality))
        func refinedCost(_ lambda: Double) -> Double {
            let symbols = LatentRefiner().refine(mean: choice.mean, rung: choice.rung, model: choice.model,
                                                 canvas: choice.canvas.pixels, lambda: lambda)
            return RateControl.choices(model: choice.model, coded: [(choice.mean, symbols, choice.rung, choice.canvas, choice.header)])[0]
                .cost(quality: quality)
        }
        let atPrice = refinedCost(lambda)
        #expect(atPrice < refinedCost(lambda / 1000) && atPrice < refinedCost(lambda * 1000))
    }

    /// Refining the chosen symbols keeps the better of the two files under the same price, and on these
    /// faces it finds a better one at some quality (the tiny model's 8 latents leave little to find).
    @Test func refinementNeverCostsAndSometimesGains() throws {
        var gains = 0
        for name in ["face-gray-64.png", "face-rgb.png", "face-gray-90.jpg", "face-progressive.jpg"] {
            let image = CodecFixture.image(name)
            let candidates = RateControl.candidates(image, models: [CodecFixture.faces], hint: .png)
            for quality in [30, 60, 90] {
                let plain = RateControl.choose(among: candidates, target: .quality(quality))
                let refined = RateControl.encode(image, models: [CodecFixture.faces], target: .quality(quality), hint: .png)
                #expect(refined.cost(quality: quality) <= plain.cost(quality: quality))
                if refined.cost(quality: quality) < plain.cost(quality: quality) { gains += 1 }
                let decoded = try LatentCodec(model: refined.model).decodeSymbols(Container.parse(refined.file, name: name), name: name)
                #expect(decoded == refined.symbols)
            }
        }
        #expect(gains > 0)
    }

    /// A search whose rate falls when it stalls goes on from where its first rate would have stopped, so it never ends
    /// worse than that rate alone in the search's own cost, SSE + lambda * bits.
    @Test func aFallingRateNeverEndsWorseThanItsFirstRate() {
        let model = CodecFixture.faces, codec = LatentCodec(model: model)
        let canvas = codec.canvas(of: CodecFixture.image("face-gray-64.png")).canvas
        let mean = codec.means([canvas])[0]
        let top = codec.rungCount - 1
        for (rung, lambda) in [(top / 3, 300.0), (2 * top / 3, 50.0), (top, 5.0)] {
            func cost(_ refiner: LatentRefiner) -> Double {
                let symbols = refiner.refine(mean: mean, rung: rung, model: model, canvas: canvas.pixels, lambda: lambda)
                let decoded = codec.reconstructions([symbols], rung: rung)[0].pixels
                let sse = zip(decoded, canvas.pixels).reduce(0.0) { $0 + pow(Double($1.0) - Double(min(max($1.1, 0), 255)), 2) }
                return sse + lambda * zip(symbols, model.ladder.rungs[rung].tables).reduce(0.0) { $0 + $1.1.codeLength(of: $1.0) }
            }
            let falling = cost(LatentRefiner(steps: 60, searches: [[0.03, 0.01, 0.003]], patience: 2))
            let first = cost(LatentRefiner(steps: 60, searches: [[0.03]], patience: 2))
            #expect(falling <= first * (1 + 1e-6))
        }
    }

    @Test func refinerWithoutStepsIsPlainRounding() {
        let model = CodecFixture.faces, codec = LatentCodec(model: model)
        let canvas = codec.canvas(of: CodecFixture.image("face-gray-64.png")).canvas
        let mean = codec.means([canvas])[0]
        for rung in 0..<codec.rungCount {
            #expect(LatentRefiner(steps: 0).refine(mean: mean, rung: rung, model: model, canvas: canvas.pixels, lambda: 100)
                    == codec.symbols(mean: mean, rung: rung))
        }
    }

    @Test func bppTargetPicksTheBestPSNRWithinBudget() {
        let image = CodecFixture.image("face-gray-64.png")
        let candidates = RateControl.candidates(image, models: [CodecFixture.faces], hint: .png)
        let sizes = candidates.map(\.file.count).sorted()
        let budget = Double(sizes[sizes.count / 2] * 8) / 4096
        let choice = RateControl.encode(image, models: [CodecFixture.faces], target: .bitsPerPixel(budget), hint: .png)
        #expect(choice.metTarget && choice.bitsPerPixel <= budget)
        #expect(candidates.filter { $0.bitsPerPixel <= budget }.allSatisfy { $0.canvasPSNR <= choice.canvasPSNR })
        let tooSmall = RateControl.encode(image, models: [CodecFixture.faces], target: .bitsPerPixel(0.001), hint: .png)
        #expect(!tooSmall.metTarget && tooSmall.file.count == sizes[0])
    }

    /// --model auto: a face goes to the face model, a digit to the digit model.
    @Test(arguments: [("face-gray-64.png", true), ("face-gray-90.jpg", true), ("digit-7.png", false)])
    func autoChoosesTheRightModel(_ name: String, isFace: Bool) {
        let choice = RateControl.encode(CodecFixture.image(name), models: [CodecFixture.faces, CodecFixture.digits],
                                        target: .quality(60), hint: .png)
        #expect(choice.model.fingerprint == (isFace ? CodecFixture.faces : CodecFixture.digits).fingerprint, "PSNR \(choice.canvasPSNR)")
    }

    @Test func shippedModelsGroupIntoFamiliesByName() {
        #expect(ModelRegistry.family(of: "faces") == "faces" && ModelRegistry.family(of: "faces-grid") == "faces")
        #expect(ModelRegistry.family(of: "digits-hi") == "digits" && ModelRegistry.family(of: "facesx") == "facesx")
    }

    @Test func psnrOfKnownError() {
        #expect(abs(Distortion.psnr([0, 0, 0, 0], [1, 1, 1, 1]) - 48.1308) < 1e-3)
        #expect(Distortion.psnr([5], [5]) == 99)
    }
}
