import SIMDSupport
import Foundation
import Imaging
import NeuralNet

/// A variational autoencoder (Kingma & Welling 2014) with its own Adam optimiser.
///
/// The layers are `VAEConfig.encoderLayers` and `decoderLayers` (see `LayerSpec`), named after PyTorch's
/// nn.Sequential numbering (activations take an index too), so a PyTorch reference with the same Sequential has
/// identical state_dict keys. The encoder's last layer emits [μ | log σ²] side by side; the decoder emits logits o,
/// and the pixel mean is sigmoid(o) under both likelihoods.
public final class VAEModel {
    public let config: VAEConfig
    public let encoder: Sequential
    public let decoder: Sequential
    /// "likelihood.logvar", shape [1] or [canvas·canvas], for learned Gaussian variances.
    public let logVariance: Parameter?
    /// Created on first use, with its two moment buffers: a model loaded to encode or decode never trains.
    public private(set) lazy var optimizer = Adam(parameters: config.likelihood == .gaussian(.learnedGlobal)
        // A learned global variance is set in closed form each step (see `fitGlobalLogVariance`), not by Adam.
        ? encoder.parameters + decoder.parameters : parameters)
    /// Every trainable array, in a fixed order, named for saving.
    public let parameters: [Parameter]

    /// Where a new model's weights come from.
    public enum InitialWeights: Sendable {
        /// Drawn from the layers' initialisation schemes with this seed (training from scratch).
        case random(seed: UInt64)
        /// Zeros, for weights a model file supplies next.
        case zeros
    }

    /// Inference entry points run in chunks so a 10,000-image evaluation does not hold
    /// every activation of every image at once.
    public var inferenceChunk = 256

    public convenience init(config: VAEConfig, seed: UInt64) throws {
        try self.init(config: config, initialWeights: .random(seed: seed))
    }

    public init(config: VAEConfig, initialWeights: InitialWeights) throws {
        try config.validate()
        self.config = config
        var rng = Xoshiro256StarStar(seed: 0)
        var zeros = false
        switch initialWeights {
        case .random(let seed): rng = Xoshiro256StarStar(seed: seed)
        case .zeros: zeros = true
        }
        func build(_ specs: [LayerSpec], _ prefix: String) -> [Layer] {
            specs.enumerated().map { i, spec in spec.layer(name: "\(prefix).\(i)", activation: config.activation, zeros: zeros, rng: &rng) }
        }
        let encoderLayers = build(config.encoderLayers, "encoder")
        let decoderLayers = build(config.decoderLayers, "decoder")
        // The data needs no gradient: skipping dx of the first layer saves a third of its backward.
        (encoderLayers[0] as! TrainableLayer).propagatesInputGradient = false
        encoder = Sequential(encoderLayers)
        decoder = Sequential(decoderLayers)

        switch config.likelihood {
        case .gaussian(.learnedGlobal):
            logVariance = Parameter(name: "likelihood.logvar", value: Tensor(zeros: [1]))
        case .gaussian(.learnedPerPixel):
            logVariance = Parameter(name: "likelihood.logvar", value: Tensor(zeros: [config.pixels]))
        default:
            logVariance = nil
        }
        parameters = encoder.parameters + decoder.parameters + (logVariance.map { [$0] } ?? [])
    }

    /// The same network with its own layers, whose weights share this model's storage until either is trained.
    public func replica() -> VAEModel {
        let copy = try! VAEModel(config: config, initialWeights: .zeros)  // the config was validated when self was built
        for (p, q) in zip(parameters, copy.parameters) { q.value = p.value }
        copy.inferenceChunk = inferenceChunk
        return copy
    }

    // MARK: Shapes

    /// Accepts [N, 1, H, W], [N, H, W] or [N, H·W]; the data is the same either way.
    private func encoderInput(_ x: Tensor) -> Tensor {
        precondition(x.elementsPerSample == config.pixels, "VAE input \(x.shape) does not hold \(config.pixels) pixels per image")
        return config.arch == .mlp ? x.reshaped([x.batchSize, config.pixels])
                                   : x.reshaped([x.batchSize, 1, config.canvas, config.canvas])
    }

    private func imageShaped(_ t: Tensor) -> Tensor { t.reshaped([t.batchSize, 1, config.canvas, config.canvas]) }

    /// Splits the encoder's [N, 2·latent] output into μ and log σ², each [N, latent].
    private func splitMeanAndLogVariance(_ h: Tensor) -> (mu: Tensor, logvar: Tensor) {
        let n = h.batchSize, k = config.latent
        var mu = [Float](), logvar = [Float]()
        mu.reserveCapacity(n * k)
        logvar.reserveCapacity(n * k)
        for i in 0..<n {
            mu.append(contentsOf: h.data[(2 * k * i)..<(2 * k * i + k)])
            logvar.append(contentsOf: h.data[(2 * k * i + k)..<(2 * k * i + 2 * k)])
        }
        return (Tensor(shape: [n, k], data: mu), Tensor(shape: [n, k], data: logvar))
    }

    private func chunked(_ x: Tensor, _ body: (Tensor) -> Void) {
        var start = 0
        while start < x.batchSize {
            let end = min(x.batchSize, start + inferenceChunk)
            body(start == 0 && end == x.batchSize ? x : x.batchSlice(start..<end))
            start = end
        }
    }

    // MARK: Inference

    public func encode(_ x: Tensor) -> (mu: Tensor, logvar: Tensor) {
        var mu = [Float](), logvar = [Float]()
        chunked(x) { chunk in
            let parts = splitMeanAndLogVariance(encoder.forward(encoderInput(chunk)))
            mu += parts.mu.data
            logvar += parts.logvar.data
        }
        return (Tensor(shape: [x.batchSize, config.latent], data: mu), Tensor(shape: [x.batchSize, config.latent], data: logvar))
    }

    /// Raw decoder output (logits), [N, 1, canvas, canvas].
    public func decodeLogits(_ z: Tensor) -> Tensor {
        var out = [Float]()
        chunked(z) { out += decoder.forward($0).data }
        return Tensor(shape: [z.batchSize, 1, config.canvas, config.canvas], data: out)
    }

    /// Pixel means sigmoid(logits) in [0, 1], [N, 1, canvas, canvas].
    public func decode(_ z: Tensor) -> Tensor {
        var t = decodeLogits(z)
        t.data.withUnsafeMutableBufferPointer { p in applySigmoid(p.baseAddress!, into: p.baseAddress!, count: p.count) }
        return t
    }

    /// One decoder pass for MAP-style optimisation of z: `lossGradient` receives the pixel
    /// means [N, 1, canvas, canvas] and returns dLoss/dmean; the result is the means and dLoss/dz.
    public func decoderGradient(z: Tensor, lossGradient: (Tensor) -> Tensor) -> (mean: Tensor, dz: Tensor) {
        decoder.setAccumulatesParameterGradients(false)
        defer { decoder.setAccumulatesParameterGradients(true) }
        let out = decoder.forward(z)
        var mean = imageShaped(out)
        mean.data.withUnsafeMutableBufferPointer { p in applySigmoid(p.baseAddress!, into: p.baseAddress!, count: p.count) }
        var dOut = lossGradient(mean)
        precondition(dOut.count == mean.count, "decoderGradient: dLoss/dmean \(dOut.shape) for means \(mean.shape)")
        dOut.data.withUnsafeMutableBufferPointer { d in
            mean.data.withUnsafeBufferPointer { m in
                for i in 0..<d.count { d[i] *= m[i] * (1 - m[i]) }
            }
        }
        return (mean, decoder.backward(dOut.reshaped(out.shape)))
    }

    // MARK: Loss

    /// −log p(x|·) summed over everything, with the gradient w.r.t. the decoder output written
    /// into `dOutput` (scaled) when given. `outputs` may hold several samples per image
    /// (samples × batch rows); targets repeat.
    private func reconstruction(outputs: Tensor, targets: Tensor, gradientScale: Float, dOutput: UnsafeMutablePointer<Float>?) -> Double {
        let perSampleCount = targets.count
        let samples = outputs.count / perSampleCount
        var total = 0.0
        outputs.data.withUnsafeBufferPointer { o in
            targets.data.withUnsafeBufferPointer { x in
                for s in 0..<samples {
                    let offset = s * perSampleCount
                    switch config.likelihood {
                    case .bernoulli:
                        total += ELBO.bernoulli(logits: o.baseAddress! + offset, targets: x.baseAddress!, count: perSampleCount,
                                                gradientScale: gradientScale, dLogits: dOutput.map { $0 + offset })
                    case .gaussian(let variance):
                        var fixedValue: Float = 0
                        if case .fixed(let lv) = variance { fixedValue = lv }
                        let perPixel = variance == .learnedPerPixel
                        let lvTensor = logVariance?.value ?? Tensor(shape: [1], data: [fixedValue])
                        lvTensor.data.withUnsafeBufferPointer { lv in
                            if let p = logVariance, dOutput != nil {
                                p.grad.data.withUnsafeMutableBufferPointer { dlv in
                                    total += ELBO.gaussian(outputs: o.baseAddress! + offset, targets: x.baseAddress!,
                                                           count: perSampleCount, pixels: config.pixels,
                                                           logVariance: lv.baseAddress!, perPixel: perPixel, clampLogVariance: true,
                                                           gradientScale: gradientScale, dOutputs: dOutput! + offset,
                                                           dLogVariance: dlv.baseAddress!)
                                }
                            } else {
                                total += ELBO.gaussian(outputs: o.baseAddress! + offset, targets: x.baseAddress!,
                                                       count: perSampleCount, pixels: config.pixels,
                                                       logVariance: lv.baseAddress!, perPixel: perPixel,
                                                       clampLogVariance: logVariance != nil, gradientScale: gradientScale,
                                                       dOutputs: dOutput.map { $0 + offset }, dLogVariance: nil)
                            }
                        }
                    }
                }
            }
        }
        return total
    }

    // MARK: Training

    /// Forward, loss = reconstruction + β·KL (per image, averaged over the batch and over L
    /// samples of z), and backward: parameter gradients are *added* to. Returns the unweighted parts.
    /// - share: this batch's fraction of the whole step's images, when a step is split across replicas
    ///   (the gradients are of the step's mean loss, so the replicas' gradients add up).
    public func accumulateGradients(batch x: Tensor, beta: Float, samples: Int = 1, share: Float = 1,
                                    rng: inout Xoshiro256StarStar) -> LossParts {
        precondition(samples >= 1)
        let n = x.batchSize, k = config.latent, pixels = config.pixels
        let h = encoder.forward(encoderInput(x))

        // Reparameterisation z = μ + exp(½ log σ²)·ε: the noise is an input, so gradients reach μ and log σ².
        let eps = rng.normalTensor(shape: [samples * n, k])
        let z = Tensor(shape: [samples * n, k]) { zp in
            h.data.withUnsafeBufferPointer { hp in
                eps.data.withUnsafeBufferPointer { e in
                    for s in 0..<samples {
                        for i in 0..<n {
                            let row = hp.baseAddress! + 2 * k * i
                            let out = (s * n + i) * k
                            for j in 0..<k { zp[out + j] = row[j] + expf(0.5 * row[k + j]) * e[out + j] }
                        }
                    }
                }
            }
        }

        let output = decoder.forward(z)
        if config.likelihood == .gaussian(.learnedGlobal) { fitGlobalLogVariance(outputs: output, targets: x) }
        var dOutput = Tensor(zeros: output.shape)
        let reconstructionSum = dOutput.data.withUnsafeMutableBufferPointer { d in
            reconstruction(outputs: output, targets: x.reshaped([n, pixels]),
                           gradientScale: share / Float(n * samples), dOutput: d.baseAddress!)
        }
        let dz = decoder.backward(dOutput)

        var klSum = 0.0
        let inverseBatch = share / Float(n)
        let dh = Tensor(shape: [n, 2 * k]) { dhp in
            h.data.withUnsafeBufferPointer { hp in
                dz.data.withUnsafeBufferPointer { dzp in
                    eps.data.withUnsafeBufferPointer { e in
                        for i in 0..<n {
                            let mu = hp.baseAddress! + 2 * k * i, logvar = mu + k
                            klSum += ELBO.kl(mu: mu, logVariance: logvar, count: k)
                            for j in 0..<k {
                                let sigma = expf(0.5 * logvar[j])
                                var dMu: Float = 0, dLogvar: Float = 0
                                for s in 0..<samples {
                                    let index = (s * n + i) * k + j
                                    dMu += dzp[index]
                                    dLogvar += dzp[index] * e[index] * 0.5 * sigma
                                }
                                // ∂KL/∂μ = μ, ∂KL/∂log σ² = ½(σ² − 1)
                                dhp[2 * k * i + j] = dMu + beta * mu[j] * inverseBatch
                                dhp[2 * k * i + k + j] = dLogvar + beta * 0.5 * (sigma * sigma - 1) * inverseBatch
                            }
                        }
                    }
                }
            }
        }
        _ = encoder.backward(dh)
        return LossParts(reconstruction: reconstructionSum / Double(n * samples), kl: klSum / Double(n))
    }

    /// The σ-VAE rule (Rybkin, Daniilidis & Levine 2021): the maximum-likelihood shared variance is the
    /// mean squared residual, so set it in closed form on each batch. Adam at lr 1e-3 would need thousands
    /// of steps to walk log σ² from 0 to about -5.6, and until then the weak likelihood lets the posterior collapse.
    private func fitGlobalLogVariance(outputs: Tensor, targets: Tensor) {
        let perSample = targets.count
        var sum = 0.0
        outputs.data.withUnsafeBufferPointer { o in
            targets.data.withUnsafeBufferPointer { x in
                for i in 0..<o.count {
                    let r = x[i % perSample] - 1 / (1 + expf(-o[i]))
                    sum += Double(r * r)
                }
            }
        }
        let range = VAEConfig.logVarianceRange
        let optimum = Float(log(max(sum / Double(max(1, outputs.count)), 1e-12)))
        logVariance!.value.data[0] = min(max(optimum, range.lowerBound), range.upperBound)
    }

    /// Zero gradients, accumulate them for one batch, take one Adam step.
    @discardableResult
    public func trainStep(batch x: Tensor, beta: Float, samples: Int = 1, rng: inout Xoshiro256StarStar) -> LossParts {
        optimizer.zeroGradients()
        let parts = accumulateGradients(batch: x, beta: beta, samples: samples, rng: &rng)
        optimizer.step()
        return parts
    }

    // MARK: Evaluation

    /// −ELBO in nats per image (reconstruction with one sample of z, KL in closed form); no gradients.
    public func evaluate(_ x: Tensor, rng: inout Xoshiro256StarStar) -> LossParts {
        var sums = LossParts(reconstruction: 0, kl: 0)
        var start = 0
        while start < x.batchSize {
            let end = min(x.batchSize, start + inferenceChunk)
            let parts = evaluate(x.batchSlice(start..<end), noise: rng.normalTensor(shape: [end - start, config.latent]))
            sums.reconstruction += parts.reconstruction * Double(end - start)
            sums.kl += parts.kl * Double(end - start)
            start = end
        }
        let n = Double(max(1, x.batchSize))
        return LossParts(reconstruction: sums.reconstruction / n, kl: sums.kl / n)
    }

    /// −ELBO in nats per image with z = μ + σ·ε for the given ε ([N, latent], standard normal draws): the bound
    /// another implementation must reproduce from the same weights, batch and noise (Training/torch); no gradients.
    public func evaluate(_ x: Tensor, noise: Tensor) -> LossParts {
        precondition(noise.shape == [x.batchSize, config.latent], "noise \(noise.shape) for \(x.batchSize) images of latent \(config.latent)")
        let (mu, logvar) = splitMeanAndLogVariance(encoder.forward(encoderInput(x)))
        var z = noise
        z.data.withUnsafeMutableBufferPointer { zp in
            for i in 0..<zp.count { zp[i] = mu.data[i] + expf(0.5 * logvar.data[i]) * zp[i] }
        }
        let output = decoder.forward(z)
        let reconstruction = reconstruction(outputs: output, targets: x.reshaped([x.batchSize, config.pixels]), gradientScale: 0, dOutput: nil)
        let kl = mu.data.withUnsafeBufferPointer { m in
            logvar.data.withUnsafeBufferPointer { lv in ELBO.kl(mu: m.baseAddress!, logVariance: lv.baseAddress!, count: m.count) }
        }
        let n = Double(max(1, x.batchSize))
        return LossParts(reconstruction: reconstruction / n, kl: kl / n)
    }

    /// Mean KL per latent dimension over the images in x; dimensions above ~0.01 nats are "active".
    public func klPerDimension(_ x: Tensor) -> [Double] {
        let k = config.latent
        var sums = [Double](repeating: 0, count: k)
        let (mu, logvar) = encode(x)
        for i in 0..<x.batchSize {
            for j in 0..<k {
                sums[j] += Double(ELBO.gaussianKL(mu: mu.data[i * k + j], logVariance: logvar.data[i * k + j]))
            }
        }
        return sums.map { $0 / Double(max(1, x.batchSize)) }
    }
}

extension VAEModel {
    /// The encoder's means for a batch of canvases (gray, 0...255, canvas x canvas), [N][latent].
    public func means(_ canvases: [GrayImage]) -> [[Float]] {
        let side = config.canvas, k = config.latent
        let x = Tensor(shape: [canvases.count, 1, side, side]) { buffer in
            for (n, c) in canvases.enumerated() {
                precondition(c.width == side && c.height == side, "canvas must be \(side)x\(side)")
                for i in 0..<(side * side) { buffer[n * side * side + i] = min(max(c.pixels[i], 0), 255) / 255 }
            }
        }
        let mu = encode(x).mu.data
        return (0..<canvases.count).map { Array(mu[($0 * k)..<(($0 + 1) * k)]) }
    }
}
