import Foundation
import Testing
import NeuralNet
@testable import VAE
@testable import Datasets

@Suite struct ELBOTermTests {
    /// KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²), by hand: (μ=1, σ²=1) → ½; (μ=0, σ²=4) → ½(3 − log 4).
    @Test func klMatchesClosedForm() {
        let mu: [Float] = [1, 0, 0], logVariance: [Float] = [0, Float(log(4.0)), 0]
        let total = ELBO.kl(mu: mu, logVariance: logVariance, count: 3)
        #expect(abs(total - (0.5 + 0.5 * (3 - log(4.0)))) < 1e-6)
    }

    /// −log N(x; m, σ²) = ½(log 2π + log σ² + (x − m)²/σ²) with m = sigmoid(o): o = 0 → m = ½.
    @Test func gaussianMatchesClosedFormAndGradients() {
        let outputs: [Float] = [0, 0], targets: [Float] = [1, 0.5]
        let logVariance: [Float] = [Float(log(0.25))]
        var dOut = [Float](repeating: 0, count: 2), dLogVariance: [Float] = [0]
        let total = ELBO.gaussian(outputs: outputs, targets: targets, count: 2, pixels: 2, logVariance: logVariance,
                                  perPixel: false, clampLogVariance: true, gradientScale: 1,
                                  dOutputs: &dOut, dLogVariance: &dLogVariance)
        let expected = log(2 * Double.pi) + log(0.25) + 0.5 * (0.25 / 0.25)
        #expect(abs(total - expected) < 1e-5)
        // d/do = −(x − m)/σ² · m(1 − m) = −0.5/0.25 · 0.25 = −0.5; d/dlogσ² = ½Σ(1 − r²/σ²) = ½(0 + 1)
        #expect(abs(dOut[0] + 0.5) < 1e-6 && dOut[1] == 0)
        #expect(abs(dLogVariance[0] - 0.5) < 1e-6)
    }

    @Test func bernoulliOfLogitZeroIsLogTwoPerPixel() {
        let total = ELBO.bernoulli(logits: [0, 0, 0], targets: [0, 1, 0.3], count: 3, gradientScale: 1, dLogits: nil)
        #expect(abs(total - 3 * log(2.0)) < 1e-6)
    }
}

/// The whole model's gradient (decoder, reparameterisation, encoder, KL) against finite differences of
/// its own loss. The noise ε comes from a seeded generator, so every evaluation sees the same ε.
@Suite struct ModelGradientTests {
    func loss(_ model: VAEModel, _ x: Tensor, beta: Float, samples: Int) -> Double {
        var rng = Xoshiro256StarStar(seed: 99)
        let parts = model.accumulateGradients(batch: x, beta: beta, samples: samples, rng: &rng)
        return parts.reconstruction + Double(beta) * parts.kl
    }

    static let configurations: [VAEConfig] = [
        VAEConfig(arch: .mlp, canvas: 4, latent: 3, hidden: [6], likelihood: .bernoulli),
        VAEConfig(arch: .mlp, canvas: 4, latent: 2, hidden: [5, 4], likelihood: .gaussian(.fixed(logVariance: -2))),
        VAEConfig(arch: .mlp, canvas: 4, latent: 2, hidden: [5], likelihood: .gaussian(.learnedPerPixel)),
        VAEConfig(arch: .conv, canvas: 8, latent: 2, hidden: [2], likelihood: .bernoulli),
        VAEConfig(arch: .spatial, canvas: 8, latent: 3, hidden: [2], likelihood: .bernoulli),
    ]

    @Test(arguments: configurations)
    func parameterGradientsMatchFiniteDifferences(config: VAEConfig) throws {
        let model = try VAEModel(config: config, seed: 5)
        var rng = Xoshiro256StarStar(seed: 6)
        // Zero biases put every unit fed only by dead ReLUs exactly on a kink, where finite differences mean nothing.
        for p in model.parameters where p.name.hasSuffix(".bias") { p.value = rng.normalTensor(shape: p.value.shape, standardDeviation: 0.1) }
        let x = Tensor(shape: [3, config.pixels]) { for i in $0.indices { $0[i] = rng.nextFloat() } }
        let (beta, samples) = (Float(0.7), 2)
        for p in model.parameters { p.zeroGradient() }
        _ = loss(model, x, beta: beta, samples: samples)
        let analytic = model.parameters.map { $0.grad.data }
        let step: Float = 1e-3
        for (index, p) in model.parameters.enumerated() {
            for i in Array(0..<p.value.count).shuffled(using: &rng).prefix(6) {
                let original = p.value.data[i]
                p.value.data[i] = original + step
                let plus = loss(model, x, beta: beta, samples: samples)
                p.value.data[i] = original - step
                let minus = loss(model, x, beta: beta, samples: samples)
                p.value.data[i] = original
                let numeric = (plus - minus) / (2 * Double(step))
                // The loss is summed in Float lanes, resolving ~1e-5 of ~100 nats: about 4e-3 in this central
                // difference, so small gradients are held to an absolute 6e-3 and larger ones to 3 %.
                let error = abs(numeric - Double(analytic[index][i])) / max(0.2, abs(numeric))
                #expect(error < 0.03, "\(config.summary) \(p.name)[\(i)]: analytic \(analytic[index][i]), numeric \(numeric)")
            }
        }
    }

    /// The reparameterisation gradient of E[f(z)] for f = −log p(x|z) reaches μ and log σ² through
    /// z = μ + σε: with the decoder frozen, dμ equals the mean of dz over samples.
    @Test func reparameterisationGradientReachesTheEncoder() throws {
        let model = try VAEModel(config: VAEConfig(arch: .mlp, canvas: 4, latent: 2, hidden: [4]), seed: 1)
        var rng = Xoshiro256StarStar(seed: 2)
        let x = Tensor(shape: [1, 16]) { for i in $0.indices { $0[i] = rng.nextFloat() } }
        for p in model.parameters { p.zeroGradient() }
        _ = loss(model, x, beta: 0, samples: 1)
        let encoderOutputBias = model.encoder.parameters.last!.grad.data  // dLoss/d[μ | log σ²] for a batch of one
        #expect(encoderOutputBias.contains { $0 != 0 })
        #expect(encoderOutputBias.allSatisfy { $0.isFinite })
    }
}

@Suite struct TrainingTests {
    /// Bright squares at 12 positions on an 8x8 canvas, with noise: a few hundred fixture-sized images.
    static func squares(count: Int, seed: UInt64) -> ImageDataset {
        var rng = Xoshiro256StarStar(seed: seed)
        var pixels = [UInt8](repeating: 0, count: count * 64)
        for n in 0..<count {
            let (top, left) = (Int(rng.next() % 4), Int(rng.next() % 3))
            for y in 0..<8 {
                for x in 0..<8 {
                    let inside = (top..<(top + 4)).contains(y) && (left..<(left + 5)).contains(x)
                    pixels[n * 64 + y * 8 + x] = UInt8(inside ? 200 + Int(rng.next() % 55) : Int(rng.next() % 40))
                }
            }
        }
        return ImageDataset(side: 8, pixels: pixels, identities: (0..<count).map(Int32.init), source: "squares")
    }

    static func options(epochs: Int) -> TrainingOptions {
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = 32
        options.learningRate = 3e-3
        options.seed = 11
        options.warmupSteps = 10
        return options
    }

    @Test(arguments: [VAEConfig.Architecture.mlp, .conv, .spatial], [1, 2])
    func negativeELBODrops(arch: VAEConfig.Architecture, workers: Int) throws {
        let config = VAEConfig(arch: arch, canvas: 8, latent: 4, hidden: arch == .mlp ? [32] : [4],
                               likelihood: .gaussian(.learnedGlobal))
        let model = try VAEModel(config: config, seed: 3)
        let trainer = Trainer(model: model, train: Self.squares(count: 300, seed: 1),
                              validation: Self.squares(count: 100, seed: 2), options: { var o = Self.options(epochs: 8); o.workers = workers; return o }())
        let before = trainer.evaluate(trainer.validation, seed: 1).0.negativeELBO
        var records: [EpochRecord] = []
        while trainer.completedEpochs < 8 { records.append(trainer.runEpoch()!) }
        let after = records.last!.validationNegativeELBO
        #expect(after < before - 40, "validation -ELBO \(before) → \(after)")
        #expect(records.last!.activeDimensions >= 1)
        #expect(records.allSatisfy { r in r.validationNegativeELBO.isFinite })
    }

    /// Two epochs in one go equal one epoch, a checkpoint through the file format, and a second epoch.
    @Test(arguments: [1, 2])
    func resumeFromCheckpointIsExact(workers: Int) throws {
        let config = VAEConfig(arch: .mlp, canvas: 8, latent: 3, hidden: [16], likelihood: .gaussian(.learnedPerPixel))
        let train = Self.squares(count: 100, seed: 1), validation = Self.squares(count: 30, seed: 2)
        var options = Self.options(epochs: 2)
        options.workers = workers

        let straight = Trainer(model: try VAEModel(config: config, seed: 4), train: train, validation: validation, options: options)
        _ = straight.runEpoch()
        _ = straight.runEpoch()

        let first = Trainer(model: try VAEModel(config: config, seed: 4), train: train, validation: validation, options: options)
        _ = first.runEpoch()
        let state = TrainingState(options: options, history: first.history, data: "squares", crop: nil)
        let checkpoint = try ModelFile.load(ModelFile.serialize(first.model, training: state, optimizerState: true), name: "ckpt")
        let resumed = Trainer(model: checkpoint.model, train: train, validation: validation,
                              options: checkpoint.training!.options, history: checkpoint.training!.history)
        _ = resumed.runEpoch()

        #expect(resumed.model.parameters.map(\.value) == straight.model.parameters.map(\.value))
        #expect(resumed.history.last!.validationNegativeELBO == straight.history.last!.validationNegativeELBO)
    }

    @Test func interruptedEpochReportsNothing() throws {
        let model = try VAEModel(config: VAEConfig(arch: .mlp, canvas: 8, latent: 2, hidden: [8]), seed: 1)
        let trainer = Trainer(model: model, train: Self.squares(count: 100, seed: 1),
                              validation: Self.squares(count: 10, seed: 2), options: Self.options(epochs: 1))
        #expect(trainer.runEpoch { done, _, _ in done < 64 } == nil)
        #expect(trainer.completedEpochs == 0)
    }
}

/// `DataParallelStep.step` over two replicas takes the gradient one model would take over both halves, each half
/// with the noise stream the step gives it (the epoch's generator, and one seeded from it): the real step is called,
/// and the reference uses only the model's own operations.
@Suite struct DataParallelTests {
    @Test(arguments: [VAEConfig.Likelihood.bernoulli, .gaussian(.learnedPerPixel)])
    func stepEqualsBothHalvesOnOneModel(likelihood: VAEConfig.Likelihood) throws {
        let config = VAEConfig(arch: .conv, canvas: 8, latent: 2, hidden: [2], likelihood: likelihood)
        let reference = try VAEModel(config: config, seed: 3), split = try VAEModel(config: config, seed: 3)
        let x = Tensor(shape: [6, 1, 8, 8]) { for i in $0.indices { $0[i] = Float(i % 17) / 17 } }

        var rng = Xoshiro256StarStar(seed: 1)
        var first = rng, seeder = rng
        var second = Xoshiro256StarStar(seed: seeder.next())
        reference.optimizer.zeroGradients()
        let a = reference.accumulateGradients(batch: x.batchSlice(0..<3), beta: 0.5, share: 0.5, rng: &first)
        let b = reference.accumulateGradients(batch: x.batchSlice(3..<6), beta: 0.5, share: 0.5, rng: &second)

        let parts = try DataParallelStep(model: split).step(batch: x, beta: 0.5, samples: 1, rng: &rng)
        #expect(abs(parts.reconstruction - 0.5 * (a.reconstruction + b.reconstruction)) <= 1e-6 * abs(parts.reconstruction))
        #expect(abs(parts.kl - 0.5 * (a.kl + b.kl)) <= 1e-6 * max(1, abs(parts.kl)))
        // The merged gradients the step's Adam update used (Adam leaves them in place); they are summed in another
        // order than the reference's, so they agree to rounding, not to the bit.
        for (r, s) in zip(reference.parameters, split.parameters) {
            for i in 0..<r.grad.count {
                #expect(abs(r.grad.data[i] - s.grad.data[i]) <= 1e-5 * max(1, abs(r.grad.data[i])), "\(r.name)[\(i)]")
            }
        }
    }
}
