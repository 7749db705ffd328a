import Foundation
import ImageFilters
import Imaging
import NeuralNet
import VAE

/// A VAE serving as the prior: the network of any model file (a codec model's, or one without codec tables), the
/// name to report it by, and what `Denoiser.priors(among:)` chooses by.
public struct Prior: ReplicableModel {
    public let name: String
    public let vae: VAEModel
    /// The models of one family (`faces`, `digits`) are alternatives for the same images; a lone file is its own.
    public let family: String
    /// The model's -ELBO on its held-out images (nats per image), from its training record; nil when unrecorded.
    public let heldOutNegativeELBO: Double?
    public var canvas: Int { vae.config.canvas }

    public init(name: String, vae: VAEModel, family: String? = nil, heldOutNegativeELBO: Double? = nil) {
        (self.name, self.vae, self.family, self.heldOutNegativeELBO) = (name, vae, family ?? name, heldOutNegativeELBO)
    }

    public func replica() -> Prior { Prior(name: name, vae: vae.replica(), family: family, heldOutNegativeELBO: heldOutNegativeELBO) }
}

/// Denoising with the VAE as a learned prior.
///
/// Model: z ~ N(0, I), the clean canvas x = D(z) + e with e ~ N(0, s_m^2) (the decoder's own likelihood
/// variance), and the observation y = x + n with n ~ N(0, s^2). Then y | z ~ N(D(z), s^2 + s_m^2), and
///  1. MAP (`fit`): z* = argmin |y - D(z)|^2 / (2 (s^2 + s_m^2)) + |z|^2 / 2, by Adam on z from the encoder's
///     mean (the decoder's backward pass gives the gradient; its weights stay fixed);
///  2. blend: x given y and z* is Gaussian with mean (s_m^2 y + s^2 D(z*)) / (s^2 + s_m^2): where the
///     noise is weak the pixel keeps its own value (detail the decoder cannot draw), where it is strong the
///     prior's picture wins. For an image larger than the canvas, D(z*) is upsampled and the blend is done at
///     full resolution;
///  3. Wiener: the blend pilots an empirical Wiener filter of y in sliding 8x8 DCT blocks (`DCTWiener`), which
///     keeps the frequencies the prior says are signal, at the observation's values; a second pass uses the first
///     pass's output as its pilot (as BM3D's second stage refines its first). Where the decoder's own error is near
///     the noise level (faces at sigma 15) a blur is the better pilot for some frequencies, so the pilot mixes the
///     blend with a blur in the share that Stein's unbiased risk estimate prefers (`sureChoice`).
public struct Denoiser {
    public let model: Prior
    public var steps = 12
    public var learningRate: Float = 0.25
    /// Also decode the encoder's guess mu(y) (`Fit.encoderDecoderCanvas`), for the bench's ablation: one more decoder pass.
    public var decodesEncoderGuess = false

    public init(model: Prior) { self.model = model }

    /// Of the candidates `priors(among:)` keeps, the one that explains `images` best: the least total negative log
    /// posterior per pixel after `steps` MAP steps (nil: the default; 0: the encoder's guess alone, which is cheap).
    public static func bestPrior(among models: [Prior], for images: [GrayImage], sigmas: [Double], steps: Int? = nil) -> Prior {
        let candidates = priors(among: models)
        guard candidates.count > 1 else { return candidates[0] }
        let totals = energies(candidates, images, sigmas: sigmas, steps: steps).map { $0.reduce(0, +) }
        return candidates[candidates.indices.min { totals[$0] < totals[$1] }!]
    }

    /// Each candidate's negative log posterior per pixel for each image, after `steps` MAP steps (nil: the default).
    static func energies(_ candidates: [Prior], _ images: [GrayImage], sigmas: [Double], steps: Int?) -> [[Double]] {
        candidates.map { model in
            var denoiser = Denoiser(model: model)
            if let steps { denoiser.steps = steps }
            return denoiser.fit(images, sigmas: sigmas).map(\.energyPerPixel)
        }
    }

    /// What `denoise(_:sigmas:models:)` made of one image.
    public struct Outcome {
        /// The estimate at the input's size (0...255): the VAE-piloted result, or the blur-piloted Wiener filter when
        /// the image looks out of the prior's domain.
        public var image: GrayImage
        /// The prior that was fitted, and how.
        public var model: Prior
        public var fit: Fit
        /// The VAE-piloted result; nil when the image looked out of the prior's domain.
        public var result: Result?
        public var outOfDomain: Bool { result == nil }
    }

    /// The whole method as `vaecodec denoise` runs it, for many images: each image's prior is the candidate of
    /// `priors(among:)` whose encoder guess explains it best (`bestPrior` with 0 steps), the images of each prior are
    /// fitted in one batch, and each is finished by the Wiener steps; an image the prior cannot draw
    /// (`Fit.looksOutOfDomain`) gets the blur-piloted Wiener filter instead, since the prior would paint its own kind
    /// of picture. Batches run on `workers` threads; an image's result does not depend on the others.
    /// - sigmas: each image's noise deviation in 8-bit units at its own resolution; below `minimumSigma`, that.
    public static func denoise(_ images: [GrayImage], sigmas: [Double], models: [Prior],
                               batchSize: Int = 16, workers: Int = 2) -> [Outcome] {
        precondition(images.count == sigmas.count && !models.isEmpty)
        let candidates = priors(among: models)
        return ModelWorkers.inBatches(images.count, models: candidates, batchSize: batchSize, workers: workers,
                                      loneBatchThreads: singleImageBLASThreads) { range, candidates in
            let batch = Array(images[range]), noise = sigmas[range].map { max($0, minimumSigma) }
            var chosen = [Int](repeating: 0, count: batch.count)
            if candidates.count > 1 {
                let energies = Self.energies(candidates, batch, sigmas: noise, steps: 0)
                chosen = batch.indices.map { i in candidates.indices.min { energies[$0][i] < energies[$1][i] }! }
            }
            var outcomes = [Outcome?](repeating: nil, count: batch.count)
            for (c, model) in candidates.enumerated() {
                let members = batch.indices.filter { chosen[$0] == c }
                guard !members.isEmpty else { continue }
                let denoiser = Denoiser(model: model)
                let fits = denoiser.fit(members.map { batch[$0] }, sigmas: members.map { noise[$0] })
                for (i, fit) in zip(members, fits) {
                    let result = fit.looksOutOfDomain ? nil : denoiser.finish(batch[i], sigma: noise[i], fit: fit)
                    outcomes[i] = Outcome(image: result?.image ?? DCTWiener.blurPiloted(batch[i], sigma: noise[i]),
                                          model: model, fit: fit, result: result)
                }
            }
            return outcomes.map { $0! }
        }
    }

    /// One image's MAP steps are products too small to split across cores: on one BLAS thread the fit of a face takes
    /// 19.6 ms instead of 23.0 (12 steps, faces model, this machine). `denoise` uses it for a lone batch, and the
    /// bench's latency for each image.
    public static let singleImageBLASThreads = 1

    /// Noise deviations below half an 8-bit level are taken as this: the Wiener steps need some noise to weigh.
    public static let minimumSigma = 0.5

    /// The largest image `denoise` takes: 2048 x 2048. Denoising works on the whole image in Float planes, about 90
    /// bytes a pixel at its peak (375 MB for a 2048 x 2048 JPEG); larger files are refused before decoding.
    public static let maxPixels = 1 << 22

    /// The priors worth trying, one per family: its global-latent member with the best held-out ELBO (the best density
    /// model of the domain), grid members only when a family has no global one. Images are then told apart by family
    /// only. Measured on 300 held-out images per domain (`vaecodec bench --denoise-only`), choosing each image's member
    /// by the energy of its encoder guess instead gave 32.24 / 29.54 / 25.70 dB on faces (sigma 15 / 25 / 50) against
    /// faces alone's 32.24 / 29.54 / 25.78, and 33.90 / 31.93 / 27.55 on digits against digits-hi alone's 34.12 /
    /// 32.76 / 27.60, at twice the time or more. As a prior, faces-grid gave 32.26 / 29.46 / 25.61 dB on 100 held-out
    /// faces against the global members' 32.16 / 29.51 / 25.73, at 2.5 times the time: its 1,024 latents fit the
    /// noise nearly as readily as the face.
    public static func priors(among models: [Prior]) -> [Prior] {
        var chosen: [Prior] = []
        for family in models.map(\.family).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } } {
            let members = models.filter { $0.family == family }
            let global = members.filter { $0.vae.config.arch != .spatial }
            let candidates = global.isEmpty ? members : global
            let ranked = candidates.compactMap { prior in prior.heldOutNegativeELBO.map { (prior, $0) } }
            if ranked.count == candidates.count, let best = ranked.min(by: { $0.1 < $1.1 }) {
                chosen.append(best.0)
            } else {
                chosen += candidates  // no record to rank them by: each image chooses
            }
        }
        return chosen
    }

    /// What the prior makes of one noisy image: the MAP latent and how well the model explains the image.
    public struct Fit {
        public var latent: [Float]
        /// The decoder's picture at z* and (with `decodesEncoderGuess`) at the encoder's mean mu(y), canvas size, 0...255.
        public var mapCanvas: GrayImage
        public var encoderDecoderCanvas: GrayImage?
        /// s_m^2 per canvas pixel (0...1 units) at z*.
        public var modelVariance: [Float]
        /// Negative log posterior density per canvas pixel at z* (nats): comparable across models, lower fits better.
        public var energyPerPixel: Double
        /// The residual y - D(z*) beyond the noise, over the model's own error variance: (|r|^2 - n s^2) / sum s_m^2.
        /// About 1 (or less) for an image the model can draw, several times that for out-of-domain input.
        public var fitRatio: Double

        /// |z*|^2 / k: about 1 under the prior. A decoder can draw almost anything from a latent far enough out
        /// (the face model fits a digit with a fit ratio near 0, at |z*|^2 / k of 8 to 13), so the latent's own
        /// improbability is the other half of the out-of-domain test.
        public var latentMeanSquare: Double { latent.reduce(0.0) { $0 + Double($1 * $1) } / Double(max(1, latent.count)) }

        /// Measured at sigma 25 with the shipped models: held-out LFW faces reach a fit ratio of about 2 and a latent
        /// mean square of about 3 (the bench's denoising report counts the held-out images flagged at each level).
        public static let outOfDomainFitRatio = 3.0
        public static let outOfDomainLatentMeanSquare = 5.0

        /// True when the model cannot draw the image from a plausible latent: its picture would be a guess.
        public var looksOutOfDomain: Bool {
            fitRatio > Self.outOfDomainFitRatio || latentMeanSquare > Self.outOfDomainLatentMeanSquare
        }
    }

    @dynamicMemberLookup
    public struct Result {
        /// The final estimate at the input's size (0...255): two DCT Wiener passes over y.
        public var image: GrayImage
        /// The VAE pilot's share in the Wiener filter's pilot (the rest is a blur), chosen by SURE.
        public var priorWeight: Float
        /// The variance-weighted blend of y and D(z*), at the input's size.
        public var blended: GrayImage
        public var fit: Fit

        public subscript<T>(dynamicMember path: KeyPath<Fit, T>) -> T { fit[keyPath: path] }
    }

    /// The decoder's per-pixel variance s_m^2 (0...1 units) at its mean picture `mean`.
    func modelVariance(mean: [Float]) -> [Float] {
        let vae = model.vae
        let range = VAEConfig.logVarianceRange
        switch vae.config.likelihood {
        case .gaussian(.fixed(let lv)): return [Float](repeating: expf(lv), count: mean.count)
        case .gaussian(.learnedGlobal):
            return [Float](repeating: expf(min(max(vae.logVariance!.value.data[0], range.lowerBound), range.upperBound)), count: mean.count)
        case .gaussian(.learnedPerPixel):
            return vae.logVariance!.value.data.map { expf(min(max($0, range.lowerBound), range.upperBound)) }
        case .bernoulli:
            return mean.map { max($0 * (1 - $0), 1e-3) }
        }
    }

    /// - sigma: the noise's standard deviation in 8-bit units, at the input's resolution.
    public func denoise(_ image: GrayImage, sigma: Double) -> Result { denoise([image], sigmas: [sigma])[0] }

    /// Several images at once: the MAP steps run as one batch through the decoder (same result per image).
    public func denoise(_ images: [GrayImage], sigmas: [Double]) -> [Result] {
        zip(zip(images, sigmas), fit(images, sigmas: sigmas)).map { finish($0.0, sigma: $0.1, fit: $1) }
    }

    /// Step 1, batched: the MAP latent (with `steps` 0, the encoder's guess) and how well it explains each image.
    public func fit(_ images: [GrayImage], sigmas: [Double]) -> [Fit] {
        let side = model.canvas, pixels = side * side, n = images.count
        let vae = model.vae, k = vae.config.latent
        let canvases = images.map { Canvas.resize($0, width: side, height: side) }
        // Area-averaging f x f pixels into one divides white noise's deviation by about f.
        let noiseVariance = zip(images, sigmas).map { image, sigma in
            Float(pow(sigma / 255 / max(1, (Double(image.width * image.height) / Double(pixels)).squareRoot()), 2))
        }
        let y = canvases.flatMap { $0.pixels.map { min(max($0, 0), 255) / 255 } }
        let mu = vae.means(canvases).flatMap { $0 }

        var z = mu
        var m = [Float](repeating: 0, count: n * k), v = m
        for step in stride(from: 1, through: steps, by: 1) {
            let (_, dz) = vae.decoderGradient(z: Tensor(shape: [n, k], data: z)) { mean in
                var grad = mean
                for image in 0..<n {
                    let modelVar = modelVariance(mean: Array(mean.data[(image * pixels)..<((image + 1) * pixels)]))
                    for i in 0..<pixels {
                        let at = image * pixels + i
                        grad.data[at] = (mean.data[at] - y[at]) / (noiseVariance[image] + modelVar[i])
                    }
                }
                return grad
            }
            // Adam on z: the data term's scale changes by orders of magnitude with sigma, Adam's steps do not.
            let adam = AdamStep(step: step, learningRate: learningRate)
            for j in 0..<(n * k) { adam.apply(&z[j], gradient: dz.data[j] + z[j], m: &m[j], v: &v[j]) }
        }
        let mapMeans = vae.decode(Tensor(shape: [n, k], data: z)).data
        let encoderDecoder = !decodesEncoderGuess ? nil : steps == 0 ? mapMeans : vae.decode(Tensor(shape: [n, k], data: mu)).data

        return (0..<n).map { index in
            let mapMean = Array(mapMeans[(index * pixels)..<((index + 1) * pixels)])
            let latent = Array(z[(index * k)..<((index + 1) * k)])
            let modelVar = modelVariance(mean: mapMean)
            var energy = 0.5 * latent.reduce(0.0) { $0 + Double($1 * $1) } + 0.5 * Double(k) * log(2 * Double.pi)
            var squaredResidual = 0.0, modelPower = 0.0
            for i in 0..<pixels {
                let total = Double(noiseVariance[index] + modelVar[i]), r = Double(y[index * pixels + i] - mapMean[i])
                energy += 0.5 * log(2 * Double.pi * total) + r * r / (2 * total)
                squaredResidual += r * r
                modelPower += Double(modelVar[i])
            }
            let excess = max(0, squaredResidual - Double(noiseVariance[index]) * Double(pixels))
            func canvas(_ means: [Float]) -> GrayImage {
                GrayImage(width: side, height: side, pixels: means[(index * pixels)..<((index + 1) * pixels)].map { $0 * 255 })
            }
            return Fit(latent: latent, mapCanvas: canvas(mapMeans), encoderDecoderCanvas: encoderDecoder.map(canvas),
                       modelVariance: modelVar, energyPerPixel: energy / Double(pixels), fitRatio: excess / modelPower)
        }
    }

    /// Steps 2 and 3, at the input's resolution.
    public func finish(_ image: GrayImage, sigma: Double, fit: Fit) -> Result {
        let side = model.canvas
        let prior = Canvas.resize(fit.mapCanvas, width: image.width, height: image.height)
        let priorVariance = Canvas.resize(GrayImage(width: side, height: side, pixels: fit.modelVariance),
                                          width: image.width, height: image.height)
        let noiseVariance = Float(pow(sigma / 255, 2))
        let blend = Blend(prior: prior.pixels, observationWeight: priorVariance.pixels.map { max($0, 1e-8) / (max($0, 1e-8) + noiseVariance) })
        let final = Self.sureChoice(image, blend: blend, sigma: sigma)
        return Result(image: final.image, priorWeight: final.weight, blended: blend(image), fit: fit)
    }

    /// The VAE pilot's possible shares in the Wiener filter's pilot (the rest is a Gaussian blur of y).
    public static let pilotWeights: [Float] = [0.5, 1]

    /// The blend of y with the prior's picture, as a function of y (for the SURE probe below).
    struct Blend {
        let prior: [Float], observationWeight: [Float]
        func callAsFunction(_ y: GrayImage) -> GrayImage {
            GrayImage(width: y.width, height: y.height, pixels: (0..<y.pixels.count).map { i in
                min(max(observationWeight[i] * y.pixels[i] + (1 - observationWeight[i]) * prior[i], 0), 255)
            })
        }
    }

    /// Each pilot share a drives f_a(y) = Wiener twice, piloted by a * blend(y) + (1 - a) * blur(y); the share with
    /// the least Monte Carlo SURE (Ramani, Blu & Unser 2008) wins:
    ///     MSE(a) ~ |y - f_a(y)|^2 / N - sigma^2 + 2 sigma^2 / N * b . (f_a(y + e b) - f_a(y)) / e,  b_i = +-1,
    /// which for Gaussian noise estimates the error against the unseen clean image without bias whatever f does.
    /// Here it is an approximation: the probe moves y through the blend, the blur and both Wiener passes, but holds
    /// the decoder's picture D(z*) fixed (refitting z* per probe would double the MAP work). The probe is seeded:
    /// same input, same output.
    /// Clipping to 0...255 breaks the Gaussian assumption, so the sums run over the pixels whose blur sits 2 sigma
    /// inside the range; when fewer than half do (MNIST's black background and white strokes) the choice is not made
    /// and the prior's pilot is used, which is where the prior knows most (the background is black) and a blur least.
    /// Noise saved as JPEG is neither white nor independent of the image, and SURE then prefers the prior's pilot
    /// where it is worst (1.3 dB below the blur's Wiener filter at sigma 15 and quality 75, on 100 held-out faces); an
    /// image with JPEG's trace (`JPEGTrace`) gets a quarter of the prior's pilot instead, the share that never fell more than
    /// 0.02 dB below the blur's Wiener filter there (a half: 0.27 dB below at sigma 15 and quality 75).
    static func sureChoice(_ y: GrayImage, blend: Blend, sigma: Double) -> (image: GrayImage, weight: Float) {
        let blur = DCTWiener.blurPilot(y, sigma: sigma)
        guard let interior = sureInterior(y, blur: blur, sigma: sigma) else {
            return (estimate(y, blend: blend(y), blur: nil, share: 1, sigma: sigma), 1)
        }
        if JPEGTrace.looksQuantised(y) {
            return (estimate(y, blend: blend(y), blur: blur, share: jpegPilotWeight, sigma: sigma), jpegPilotWeight)
        }
        let best = sureCandidates(y, blend: blend, blur: blur, interior: interior, sigma: sigma).min { $0.risk < $1.risk }!
        return (best.image, best.weight)
    }

    /// The prior's share of the pilot for an image that was saved as JPEG.
    public static let jpegPilotWeight: Float = 0.25

    /// Wiener twice, piloted by share * blend + (1 - share) * blur.
    static func estimate(_ y: GrayImage, blend: GrayImage, blur: GrayImage?, share a: Float, sigma: Double) -> GrayImage {
        guard a < 1, let blur else { return DCTWiener.twoPass(y, pilot: blend, sigma: sigma) }
        let pilot = GrayImage(width: y.width, height: y.height, pixels: zip(blend.pixels, blur.pixels).map { a * $0 + (1 - a) * $1 })
        return DCTWiener.twoPass(y, pilot: pilot, sigma: sigma)
    }

    /// The pixels SURE's sums run over, those whose blur sits 2 sigma inside 0...255, or nil when fewer than half do.
    static func sureInterior(_ y: GrayImage, blur: GrayImage, sigma: Double) -> [Int]? {
        let margin = Float(2 * sigma)
        let interior = blur.pixels.indices.filter { blur.pixels[$0] > margin && blur.pixels[$0] < 255 - margin }
        return interior.count * 2 >= y.pixels.count ? interior : nil
    }

    /// Every pilot share's estimate with its SURE (mean squared error per interior pixel).
    static func sureCandidates(_ y: GrayImage, blend: Blend, blur: GrayImage, interior: [Int],
                               sigma: Double) -> [(image: GrayImage, weight: Float, risk: Double)] {
        var rng = Xoshiro256StarStar(seed: 0x5EED)
        // Rademacher (+-1) probes: b . J b then misses nothing of J's diagonal, which a Gaussian probe only samples.
        let probe = (0..<y.pixels.count).map { _ in rng.next() & 1 == 0 ? Float(1) : -1 }
        let epsilon = Float(max(sigma, 1) * 0.01)
        let shifted = GrayImage(width: y.width, height: y.height, pixels: zip(y.pixels, probe).map { $0 + epsilon * $1 })
        let (blended, blendedShifted, blurShifted) = (blend(y), blend(shifted), DCTWiener.blurPilot(shifted, sigma: sigma))
        let n = Double(interior.count), s2 = sigma * sigma
        return pilotWeights.map { a in
            let out = estimate(y, blend: blended, blur: blur, share: a, sigma: sigma)
            let outShifted = estimate(shifted, blend: blendedShifted, blur: blurShifted, share: a, sigma: sigma)
            var squaredResidual = 0.0, divergence = 0.0
            for i in interior {
                let r = Double(y.pixels[i] - out.pixels[i])
                squaredResidual += r * r
                divergence += Double(probe[i]) * Double(outShifted.pixels[i] - out.pixels[i]) / Double(epsilon)
            }
            return (image: out, weight: a, risk: squaredResidual / n - s2 + 2 * s2 * divergence / n)
        }
    }

    /// Per-pixel standard deviation (8-bit units, input size) of the blended estimate under posterior samples
    /// z = z* + sigma_q * eps (sigma_q: the encoder's posterior deviation at y), plus the blend's own variance.
    public func uncertainty(_ image: GrayImage, sigma: Double, fit: Fit, samples: Int = 32, seed: UInt64 = 1) -> GrayImage {
        let side = model.canvas, k = model.vae.config.latent
        let canvas = Canvas.resize(image, width: side, height: side)
        let x = Tensor(shape: [1, 1, side, side], data: canvas.pixels.map { min(max($0, 0), 255) / 255 })
        let posteriorStd = model.vae.encode(x).logvar.data.map { expf(0.5 * $0) }
        var rng = Xoshiro256StarStar(seed: seed)
        var z = rng.normalTensor(shape: [samples, k])
        for s in 0..<samples { for j in 0..<k { z.data[s * k + j] = fit.latent[j] + posteriorStd[j] * z.data[s * k + j] } }
        let decoded = model.vae.decode(z).data
        let pixels = side * side
        var std = [Float](repeating: 0, count: pixels)
        for i in 0..<pixels {
            var sum = 0.0, sumSquares = 0.0
            for s in 0..<samples { let d = Double(decoded[s * pixels + i]); sum += d; sumSquares += d * d }
            let mean = sum / Double(samples)
            std[i] = Float(max(0, sumSquares / Double(samples) - mean * mean).squareRoot())
        }
        let modelVar = fit.modelVariance
        let noiseVar = Float(pow(sigma / 255, 2))
        let canvasStd = (0..<pixels).map { i -> Float in
            let w = modelVar[i] / (modelVar[i] + noiseVar)
            let decoderPart = (1 - w) * std[i]
            let blendPart = modelVar[i] * noiseVar / (modelVar[i] + noiseVar)  // variance of x given y and D(z)
            return (decoderPart * decoderPart + blendPart).squareRoot() * 255
        }
        return Canvas.resize(GrayImage(width: side, height: side, pixels: canvasStd), width: image.width, height: image.height)
    }
}
