import Foundation
import ImageIO
import NeuralNet
import VAE

/// Denoising with the VAE as a learned prior.
///
/// Model: z ~ N(0, I), the clean canvas x = D(z) + e with e ~ N(0, s_m^2) (the decoder's own likelihood
/// variance), and the observation y = x + n with n ~ N(0, s^2). Then y | z ~ N(D(z), s^2 + s_m^2), and
///  1. MAP: z* = argmin |y - D(z)|^2 / (2 (s^2 + s_m^2)) + |z|^2 / 2, by Adam on z from the encoder's mean
///     (the decoder's backward pass gives the gradient; its weights stay fixed);
///  2. blend: x given y and z* is Gaussian with mean (s_m^2 y + s^2 D(z*)) / (s^2 + s_m^2): where the
///     noise is weak the pixel keeps its own value (detail the decoder cannot draw), where it is strong the
///     prior's picture wins. For an image larger than the canvas, D(z*) is upsampled and the blend is done at
///     full resolution;
///  3. Wiener: the blend pilots an empirical Wiener filter of y in sliding 8x8 DCT blocks (`DCTWiener`), which
///     keeps the frequencies the prior says are signal, at the observation's values; a second pass uses the first
///     pass's output as its pilot (as BM3D's second stage refines its first). Mixing in a classical pilot was
///     measured and rejected: +0.5 dB on faces at sigma 15, but up to -3 dB on digits, whose black background
///     the prior knows and a blur does not.
public struct Denoiser {
    public let model: CodecModel
    public var steps = 12
    public var learningRate: Float = 0.25

    public init(model: CodecModel) { self.model = model }

    public struct Result {
        /// The final estimate at the input's size (0...255): two DCT Wiener passes over y, piloted by `blended`.
        public var image: GrayImage
        /// The variance-weighted blend of y and D(z*), at the input's size.
        public var blended: GrayImage
        /// The decoder's picture alone at z* (canvas size), and the encoder-decoder picture at mu(y).
        public var mapCanvas: GrayImage
        public var encoderDecoderCanvas: GrayImage
        public var latent: [Float]
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
        let side = model.canvas, pixels = side * side, n = images.count
        let vae = model.vae, k = vae.config.latent
        let canvases = images.map { Canvas.resize($0, width: side, height: side) }
        // Area-averaging f x f pixels into one divides white noise's deviation by about f.
        let noiseVariance = zip(images, sigmas).map { image, sigma in
            Float(pow(sigma / 255 / max(1, (Double(image.width * image.height) / Double(pixels)).squareRoot()), 2))
        }
        let y = canvases.flatMap { $0.pixels.map { min(max($0, 0), 255) / 255 } }
        let mu = LatentCodec(model: model).means(canvases).flatMap { $0 }

        var z = mu
        var m = [Float](repeating: 0, count: n * k), v = m
        for step in stride(from: 1, through: steps, by: 1) {  // steps = 0: the encoder's guess alone
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
            let t = Float(step)
            let (c1, c2) = (1 - powf(0.9, t), 1 - powf(0.999, t))
            for j in 0..<(n * k) {
                let g = dz.data[j] + z[j]
                m[j] = 0.9 * m[j] + 0.1 * g
                v[j] = 0.999 * v[j] + 0.001 * g * g
                z[j] -= learningRate * (m[j] / c1) / ((v[j] / c2).squareRoot() + 1e-8)
            }
        }
        let mapMeans = vae.decode(Tensor(shape: [n, k], data: z)).data
        let encoderDecoder = vae.decode(Tensor(shape: [n, k], data: mu)).data

        return (0..<n).map { index in
            let image = images[index]
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
            // Blend at the input's resolution.
            let mapCanvas = GrayImage(width: side, height: side, pixels: mapMean.map { $0 * 255 })
            let prior = Canvas.resize(mapCanvas, width: image.width, height: image.height)
            let priorVariance = Canvas.resize(GrayImage(width: side, height: side, pixels: modelVar), width: image.width, height: image.height)
            let noiseAtFull = Float(pow(sigmas[index] / 255, 2))
            let blended = (0..<image.pixels.count).map { i -> Float in
                let sm = max(priorVariance.pixels[i], 1e-8)
                let w = sm / (sm + noiseAtFull)  // the observation's weight
                return min(max(w * image.pixels[i] + (1 - w) * prior.pixels[i], 0), 255)
            }
            let plain = encoderDecoder[(index * pixels)..<((index + 1) * pixels)].map { $0 * 255 }
            let blend = GrayImage(width: image.width, height: image.height, pixels: blended)
            return Result(image: DCTWiener.twoPass(image, pilot: blend, sigma: sigmas[index]),
                          blended: blend, mapCanvas: mapCanvas,
                          encoderDecoderCanvas: GrayImage(width: side, height: side, pixels: Array(plain)), latent: latent,
                          energyPerPixel: energy / Double(pixels), fitRatio: excess / modelPower)
        }
    }

    /// Per-pixel standard deviation (8-bit units, input size) of the blended estimate under posterior samples
    /// z = z* + sigma_q * eps (sigma_q: the encoder's posterior deviation at y), plus the blend's own variance.
    public func uncertainty(_ image: GrayImage, sigma: Double, result: Result, samples: Int = 32, seed: UInt64 = 1) -> GrayImage {
        let side = model.canvas, k = model.vae.config.latent
        let canvas = Canvas.resize(image, width: side, height: side)
        let x = Tensor(shape: [1, 1, side, side], data: canvas.pixels.map { min(max($0, 0), 255) / 255 })
        let posteriorStd = model.vae.encode(x).logvar.data.map { expf(0.5 * $0) }
        var rng = Xoshiro256StarStar(seed: seed)
        var z = rng.normalTensor(shape: [samples, k])
        for s in 0..<samples { for j in 0..<k { z.data[s * k + j] = result.latent[j] + posteriorStd[j] * z.data[s * k + j] } }
        let decoded = model.vae.decode(z).data
        let pixels = side * side
        var std = [Float](repeating: 0, count: pixels)
        for i in 0..<pixels {
            var sum = 0.0, sumSquares = 0.0
            for s in 0..<samples { let d = Double(decoded[s * pixels + i]); sum += d; sumSquares += d * d }
            let mean = sum / Double(samples)
            std[i] = Float(max(0, sumSquares / Double(samples) - mean * mean).squareRoot())
        }
        let modelVar = modelVariance(mean: result.mapCanvas.pixels.map { $0 / 255 })
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

/// Noise level from the image itself: Donoho & Johnstone's robust estimate on the finest diagonal wavelet band,
/// sigma = median(|HH|) / 0.6745, with HH the Haar detail (a - b - c + d) / 2 of each 2x2 block. Edges barely
/// reach that band, so on a clean image it reads near 0 and on a noisy one near the noise's deviation.
public enum NoiseEstimator {
    public static func sigma(_ image: GrayImage) -> Double {
        var details: [Float] = []
        details.reserveCapacity(image.width * image.height / 4)
        for y in stride(from: 0, to: image.height - 1, by: 2) {
            for x in stride(from: 0, to: image.width - 1, by: 2) {
                let p = image.pixels, w = image.width
                let d = (p[y * w + x] - p[y * w + x + 1] - p[(y + 1) * w + x] + p[(y + 1) * w + x + 1]) / 2
                details.append(abs(d))
            }
        }
        guard !details.isEmpty else { return 0 }
        details.sort()
        return Double(details[details.count / 2]) / 0.6745
    }
}

/// Empirical Wiener filtering in sliding 8x8 DCT blocks, with a pilot estimate giving the signal's power
/// (the second stage of BM3D, without block matching): each coefficient of the noisy block is scaled by
/// P^2 / (P^2 + sigma^2), P the pilot's coefficient, and overlapping blocks are averaged. With the VAE's
/// estimate as the pilot, the prior decides which frequencies are signal; the observation supplies the values.
public enum DCTWiener {
    static let size = 8
    /// Orthonormal DCT-II matrix, row k = basis function k.
    static let basis: [Float] = {
        (0..<(size * size)).map { index in
            let (k, n) = (index / size, index % size)
            let scale = k == 0 ? (1 / Double(size)).squareRoot() : (2 / Double(size)).squareRoot()
            return Float(scale * cos(Double.pi * (Double(n) + 0.5) * Double(k) / Double(size)))
        }
    }()

    public static func filter(_ noisy: GrayImage, pilot: GrayImage, sigma: Double, stride: Int = 2) -> GrayImage {
        let (w, h) = (noisy.width, noisy.height)
        guard w >= size, h >= size, sigma > 0 else { return noisy }
        let noisePower = Float(sigma * sigma)
        var sum = [Float](repeating: 0, count: w * h), weight = sum
        var positionsX = Array(Swift.stride(from: 0, through: w - size, by: stride)), positionsY = Array(Swift.stride(from: 0, through: h - size, by: stride))
        if positionsX.last != w - size { positionsX.append(w - size) }
        if positionsY.last != h - size { positionsY.append(h - size) }
        var block = [Float](repeating: 0, count: size * size), pilotBlock = block
        for by in positionsY {
            for bx in positionsX {
                for y in 0..<size {
                    for x in 0..<size {
                        block[y * size + x] = noisy.pixels[(by + y) * w + bx + x]
                        pilotBlock[y * size + x] = pilot.pixels[(by + y) * w + bx + x]
                    }
                }
                var coefficients = transform(block, inverse: false)
                let pilotCoefficients = transform(pilotBlock, inverse: false)
                var gainEnergy: Float = 0
                for i in 0..<(size * size) {
                    let p2 = pilotCoefficients[i] * pilotCoefficients[i]
                    let gain = p2 / (p2 + noisePower)
                    coefficients[i] *= gain
                    gainEnergy += gain * gain
                }
                let restored = transform(coefficients, inverse: true)
                // BM3D's aggregation weight: blocks the filter kept little of are trusted more.
                let blockWeight = 1 / max(gainEnergy, 1e-3)
                for y in 0..<size {
                    for x in 0..<size {
                        sum[(by + y) * w + bx + x] += blockWeight * restored[y * size + x]
                        weight[(by + y) * w + bx + x] += blockWeight
                    }
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: (0..<(w * h)).map { min(max(sum[$0] / weight[$0], 0), 255) })
    }

    /// Two passes: the pilot's Wiener estimate pilots the second (as BM3D's second stage refines its first).
    public static func twoPass(_ noisy: GrayImage, pilot: GrayImage, sigma: Double) -> GrayImage {
        filter(noisy, pilot: filter(noisy, pilot: pilot, sigma: sigma), sigma: sigma)
    }

    /// The classical estimate, no prior: a Gaussian blur pilots two Wiener passes. The blur's width grows with
    /// the noise, 0.6 + sigma / 50 pixels (0.9, 1.1, 1.6 at sigma 15, 25, 50): a little wider than the blur that is
    /// best on its own, since a pilot only has to say which frequencies are signal.
    public static func blurPiloted(_ image: GrayImage, sigma: Double) -> GrayImage {
        twoPass(image, pilot: GaussianBlur.apply(image, sigma: 0.6 + sigma / 50), sigma: sigma)
    }

    /// 2-D DCT (or its inverse) of an 8x8 block: B X B^T, or B^T X B.
    static func transform(_ x: [Float], inverse: Bool) -> [Float] {
        var temp = [Float](repeating: 0, count: size * size), out = temp
        for i in 0..<size {
            for j in 0..<size {
                var s: Float = 0
                for k in 0..<size { s += (inverse ? basis[k * size + i] : basis[i * size + k]) * x[k * size + j] }
                temp[i * size + j] = s
            }
        }
        for i in 0..<size {
            for j in 0..<size {
                var s: Float = 0
                for k in 0..<size { s += temp[i * size + k] * (inverse ? basis[k * size + j] : basis[j * size + k]) }
                out[i * size + j] = s
            }
        }
        return out
    }
}

/// Separable Gaussian blur with clamped edges.
public enum GaussianBlur {
    public static func apply(_ image: GrayImage, sigma: Double) -> GrayImage {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        let raw = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = raw.reduce(0, +)
        let kernel = raw.map { Float($0 / total) }
        let (w, h) = (image.width, image.height)
        var horizontal = [Float](repeating: 0, count: w * h), out = horizontal
        for y in 0..<h {
            for x in 0..<w {
                var s: Float = 0
                for k in -radius...radius { s += kernel[k + radius] * image.pixels[y * w + min(max(x + k, 0), w - 1)] }
                horizontal[y * w + x] = s
            }
        }
        for y in 0..<h {
            for x in 0..<w {
                var s: Float = 0
                for k in -radius...radius { s += kernel[k + radius] * horizontal[min(max(y + k, 0), h - 1) * w + x] }
                out[y * w + x] = s
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }
}
