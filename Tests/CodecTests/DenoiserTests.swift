@testable import Denoising
import Testing
import NeuralNet
@testable import Codec
import ImageFilters
import Imaging

@Suite struct DenoiserTests {
    static func noisy(_ image: GrayImage, sigma: Float, seed: UInt64) -> GrayImage {
        var rng = Xoshiro256StarStar(seed: seed)
        let noise = rng.normalTensor(shape: [image.pixels.count]).data
        return GrayImage(width: image.width, height: image.height, pixels: zip(image.pixels, noise).map { $0 + sigma * $1 })
    }

    /// A smooth image plus white noise: the Haar-detail MAD estimate lands near the true deviation.
    @Test(arguments: [5.0, 20.0, 40.0])
    func noiseEstimateIsCloseToTheTruth(sigma: Double) {
        let ramp: [Float] = (0..<(96 * 80)).map { (i: Int) -> Float in Float(100 + (i % 96) / 2 + i / 96) }
        let smooth = GrayImage(width: 96, height: 80, pixels: ramp)
        let estimate = NoiseEstimator.sigma(Self.noisy(smooth, sigma: Float(sigma), seed: 3))
        #expect(abs(estimate - sigma) / sigma < 0.1, "estimated \(estimate)")
        #expect(NoiseEstimator.sigma(smooth) < 1)
    }

    /// Noise clipped at 0 over a digit's black background, rounded as a saved image is: the Haar estimate alone reads
    /// about 0.6 of the deviation, the clipped region's reads it, and a clean digit (a flat, unspeckled background)
    /// still reads near 0. An inverted digit exercises the clip at 255.
    @Test(arguments: [15.0, 25.0, 50.0])
    func noiseEstimateSeesThroughClipping(sigma: Double) {
        let digit = CodecFixture.image("digit-7.png")
        func saved(_ image: GrayImage) -> GrayImage {
            GrayImage(width: image.width, height: image.height, pixels: image.pixels.map { min(max($0.rounded(), 0), 255) })
        }
        let noisy = saved(Self.noisy(digit, sigma: Float(sigma), seed: 9))
        #expect(NoiseEstimator.haarSigma(noisy) < 0.8 * sigma)
        #expect(abs(NoiseEstimator.sigma(noisy) - sigma) / sigma < 0.15, "estimated \(NoiseEstimator.sigma(noisy))")
        let inverted = GrayImage(width: 64, height: 64, pixels: digit.pixels.map { 255 - $0 })
        let noisyInverted = saved(Self.noisy(inverted, sigma: Float(sigma), seed: 10))
        #expect(abs(NoiseEstimator.sigma(noisyInverted) - sigma) / sigma < 0.15, "estimated \(NoiseEstimator.sigma(noisyInverted))")
        #expect(NoiseEstimator.sigma(digit) < 1 && NoiseEstimator.sigma(inverted) < 1)
    }

    /// A noisy digit saved as JPEG: the rounding smooths the background's speckle, so the Haar and clipped-speckle
    /// estimates read low, and the background's mean (`backgroundSigma`) reads the noise.
    @Test(arguments: [15.0, 25.0, 50.0])
    func noiseEstimateReadsADigitSavedAsJPEG(sigma: Double) throws {
        let digit = CodecFixture.image("digit-7.png")
        let noisy = GrayImage(width: 64, height: 64, pixels: Self.noisy(digit, sigma: Float(sigma), seed: 13).pixels.map { min(max($0.rounded(), 0), 255) })
        let saved = try ImageCodec.decode(ImageCodec.encodeJPEG(noisy.image(), quality: 90), name: "noisy.jpg").image.gray()
        #expect(JPEGTrace.looksQuantised(saved))
        #expect(max(NoiseEstimator.haarSigma(saved), NoiseEstimator.clippedSigma(saved, at: 0)) < 0.8 * sigma)
        #expect(abs(NoiseEstimator.sigma(saved) - sigma) / sigma < 0.2, "estimated \(NoiseEstimator.sigma(saved))")
        #expect(NoiseEstimator.backgroundSigma(digit, at: 0) == 0)
    }

    /// A face at sigma 50 loses over 5% of its pixels to 255 (its bright background), and the median diagonal detail
    /// of all blocks reads the noise low; over the blocks that sit inside the range it reads it within 10%.
    @Test func noiseEstimateSkipsBlocksNearTheClipLevels() {
        let face = CodecFixture.image("face-lfw-64.png")
        let noisy = GrayImage(width: 64, height: 64, pixels: Self.noisy(face, sigma: 50, seed: 12).pixels.map { min(max($0.rounded(), 0), 255) })
        #expect(noisy.pixels.filter { $0 == 255 }.count > 4096 / 20)
        let p = noisy.pixels
        var allBlocks: [Float] = []
        for y in stride(from: 0, to: 64, by: 2) {
            for x in stride(from: 0, to: 64, by: 2) {
                let (a, b, c, d) = (p[y * 64 + x], p[y * 64 + x + 1], p[y * 64 + 64 + x], p[y * 64 + 65 + x])
                allBlocks.append(abs(a - b - c + d) / 2)
            }
        }
        allBlocks.sort()
        let naive = Double(allBlocks[allBlocks.count / 2]) / 0.6745
        let estimate = NoiseEstimator.sigma(noisy)
        #expect(naive < 48 && estimate > naive + 2 && abs(estimate - 50) < 5, "estimated \(estimate), all blocks \(naive)")
    }

    /// A noisy face saved as JPEG carries the grid's trace; the same face with white noise, saved losslessly, does not.
    /// The denoiser then leaves SURE, which assumes white noise, for the fixed share of the prior's pilot.
    @Test(arguments: [90, 75])
    func jpegTraceTellsSavedNoiseFromWhiteNoise(quality: Int) throws {
        let face = CodecFixture.image("face-lfw-64.png")
        let noisy = GrayImage(width: 64, height: 64, pixels: Self.noisy(face, sigma: 20, seed: 11).pixels.map { min(max($0.rounded(), 0), 255) })
        let saved = try ImageCodec.decode(ImageCodec.encodeJPEG(noisy.image(), quality: quality), name: "noisy.jpg").image.gray()
        #expect(JPEGTrace.score(noisy) < JPEGTrace.threshold / 2, "white noise scored \(JPEGTrace.score(noisy))")
        #expect(JPEGTrace.score(saved) > JPEGTrace.threshold * 2, "quality \(quality) scored \(JPEGTrace.score(saved))")
        let blend = Denoiser.Blend(prior: GaussianBlur.apply(face, sigma: 3).pixels, observationWeight: [Float](repeating: 0.3, count: 4096))
        #expect(Denoiser.sureChoice(saved, blend: blend, sigma: 20).weight == Denoiser.jpegPilotWeight)
        #expect(Denoiser.pilotWeights.contains(Denoiser.sureChoice(noisy, blend: blend, sigma: 20).weight))
    }

    @Test func wienerWithAGoodPilotRemovesNoise() {
        let clean = CodecFixture.image("face-lfw-64.png")
        let noisy = Self.noisy(clean, sigma: 25, seed: 4)
        let withCleanPilot = DCTWiener.filter(noisy, pilot: clean, sigma: 25)
        let classical = DCTWiener.blurPiloted(noisy, sigma: 25)
        let before = Distortion.psnr(clean.pixels, noisy.pixels)
        #expect(Distortion.psnr(clean.pixels, withCleanPilot.pixels) > before + 8)
        #expect(Distortion.psnr(clean.pixels, classical.pixels) > before + 6)
        // The DCT is orthonormal: a pilot of infinite power keeps the image exactly.
        let flat = DCTWiener.filter(clean, pilot: GrayImage(width: 64, height: 64, pixels: clean.pixels.map { $0 * 1e6 }), sigma: 1e-3)
        #expect(Distortion.psnr(clean.pixels, flat.pixels) > 60)
    }

    /// SURE needs no clean image, yet on a face with Gaussian noise it ranks the pilots as their true errors do (the
    /// noise term common to all candidates cancels in the differences); on a digit, mostly clipped at black, SURE does
    /// not apply and the prior's pilot is used.
    @Test func sureRanksThePilotsAsTheirTrueErrorsDo() throws {
        let clean = CodecFixture.image("face-lfw-64.png")
        let noisy = Self.noisy(clean, sigma: 20, seed: 7)
        let blend = Denoiser.Blend(prior: GaussianBlur.apply(clean, sigma: 3).pixels, observationWeight: [Float](repeating: 0.3, count: 4096))
        let blur = DCTWiener.blurPilot(noisy, sigma: 20)
        let interior = try #require(Denoiser.sureInterior(noisy, blur: blur, sigma: 20))
        let candidates = Denoiser.sureCandidates(noisy, blend: blend, blur: blur, interior: interior, sigma: 20)
        let trueMSE = candidates.map { c in zip(c.image.pixels, clean.pixels).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / 4096 }
        #expect(candidates.map(\.weight) == Denoiser.pilotWeights)
        for i in 1..<candidates.count {
            let (estimated, actual) = (candidates[i].risk - candidates[0].risk, trueMSE[i] - trueMSE[0])
            #expect(abs(estimated - actual) < 0.5 + 0.15 * abs(actual), "pilot \(candidates[i].weight): SURE difference \(estimated), true \(actual)")
        }
        #expect(Denoiser.sureChoice(noisy, blend: blend, sigma: 20).weight == candidates.min { $0.risk < $1.risk }!.weight)

        let digit = CodecFixture.image("digit-7.png")
        let digitBlend = Denoiser.Blend(prior: digit.pixels, observationWeight: [Float](repeating: 0.3, count: digit.pixels.count))
        let noisyDigit = Self.noisy(digit, sigma: 20, seed: 8)
        #expect(Denoiser.sureInterior(noisyDigit, blur: DCTWiener.blurPilot(noisyDigit, sigma: 20), sigma: 20) == nil)
        #expect(Denoiser.sureChoice(noisyDigit, blend: digitBlend, sigma: 20).weight == 1)
    }

    /// MAP lowers the negative log posterior below the encoder's guess, the batch gives the same as one at a time,
    /// and the output keeps the input's size.
    @Test func mapImprovesTheFitAndBatchesConsistently() {
        let denoiser = Denoiser(model: Prior(CodecFixture.faces))
        let images = [Self.noisy(CodecFixture.image("face-lfw-64.png"), sigma: 20, seed: 5),
                      Self.noisy(CodecFixture.image("face-odd-177x151.jpg"), sigma: 20, seed: 6)]
        var lazy = denoiser
        lazy.steps = 1
        lazy.learningRate = 0
        let start = lazy.denoise(images, sigmas: [20, 20])
        let results = denoiser.denoise(images, sigmas: [20, 20])
        for i in 0..<2 {
            #expect(results[i].energyPerPixel < start[i].energyPerPixel)
            #expect(results[i].image.width == images[i].width && results[i].image.height == images[i].height)
            #expect(results[i].fitRatio.isFinite)
        }
        let single = denoiser.denoise(images[1], sigma: 20)
        #expect(zip(single.image.pixels, results[1].image.pixels).allSatisfy { abs($0 - $1) < 0.05 })
        let map = denoiser.uncertainty(images[0], sigma: 20, fit: results[0].fit)
        #expect(map.width == 64 && map.pixels.allSatisfy { $0 >= 0 && $0.isFinite } && map.pixels.contains { $0 > 0 })
    }
}

/// One prior per family: its global member with the best held-out ELBO; families stay apart; without records each
/// member is kept (each image then chooses).
@Suite struct PriorChoiceTests {
    @Test func eachFamilyKeepsItsBestDensityModel() {
        let vae = CodecFixture.faces.vae
        let priors = [Prior(name: "faces-xs", vae: vae, family: "faces", heldOutNegativeELBO: -4829),
                      Prior(name: "faces", vae: vae, family: "faces", heldOutNegativeELBO: -6327),
                      Prior(name: "digits-lo", vae: vae, family: "digits", heldOutNegativeELBO: -7672),
                      Prior(name: "digits-hi", vae: vae, family: "digits", heldOutNegativeELBO: -7698)]
        #expect(Denoiser.priors(among: priors).map(\.name) == ["faces", "digits-hi"])
        let unranked = [Prior(name: "a", vae: vae, family: "x"), Prior(name: "b", vae: vae, family: "x", heldOutNegativeELBO: -1)]
        #expect(Denoiser.priors(among: unranked).map(\.name) == ["a", "b"])
    }
}
