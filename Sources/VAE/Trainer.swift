#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Datasets
import NeuralNet

/// Hyperparameters of one training run; stored in checkpoints so `--resume` continues the same run.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public var epochs = 10
    public var batchSize = 128
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 1
    /// Final weight on the KL term; below 1 buys reconstruction quality with rate.
    public var beta: Float = 1
    /// KL warm-up: beta rises linearly from 0 over this many steps.
    public var warmupSteps = 0
    /// Monte Carlo samples of z per image.
    public var samples = 1
    public var maxGradientNorm: Float?
    /// Split each batch across this many cores (1 or 2; see DataParallelStep). Nil in older checkpoints: 1.
    public var workers: Int?
    /// Mirror each training image left to right with probability 1/2 (faces are nearly symmetric; this halves
    /// the overfitting of high-rate face models on LFW's 10,000 images). Nil in older checkpoints: off.
    public var flip: Bool?
    /// Move each training image by up to this many pixels in x and in y (uniform, edges repeated): the global
    /// face models overfit LFW's 10,000 images, and a face a pixel off centre is still a face. Nil: 0.
    public var shift: Int?

    public init() {}
}

/// What one epoch measured: -ELBO parts in nats per image, and the latent dimensions in use.
public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trainReconstruction: Double
    public var trainKL: Double
    public var validationReconstruction: Double
    public var validationKL: Double
    public var activeDimensions: Int
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Arithmetic rate of the training step's matrix products (see `VAEModel.trainingFlopsPerImage`).
    public var gflops: Double?

    public var trainNegativeELBO: Double { trainReconstruction + trainKL }
    public var validationNegativeELBO: Double { validationReconstruction + validationKL }
}

/// Minibatch training by maximising the ELBO. Every epoch's shuffle and noise come from (seed, epoch),
/// so a run resumed from an epoch checkpoint continues exactly as if it had never stopped.
public final class Trainer {
    public let model: VAEModel
    public let train: ImageDataset
    public let validation: ImageDataset
    public let options: TrainingOptions
    public private(set) var history: [EpochRecord]
    public var completedEpochs: Int { history.count }
    public private(set) var step: Int
    private var parallel: DataParallelStep?

    public init(model: VAEModel, train: ImageDataset, validation: ImageDataset, options: TrainingOptions,
                history: [EpochRecord] = []) {
        precondition(train.side == model.config.canvas && validation.side == model.config.canvas,
                     "dataset canvas does not match the model")
        self.model = model
        self.train = train
        self.validation = validation
        self.options = options
        self.history = history
        self.step = history.isEmpty ? 0 : (train.count + options.batchSize - 1) / options.batchSize * history.count
        model.optimizer.learningRate = options.learningRate
        model.optimizer.maxGradientNorm = options.maxGradientNorm
        parallel = (options.workers ?? 1) > 1 ? try? DataParallelStep(model: model) : nil
    }

    public func beta(atStep step: Int) -> Float {
        guard options.warmupSteps > 0 else { return options.beta }
        return options.beta * min(1, Float(step) / Float(options.warmupSteps))
    }

    /// One pass over the training set, then validation. `onBatch(done, total, running)` reports progress and
    /// returns false to stop early: the epoch is then abandoned (nil) and the model is mid-epoch, not to be saved.
    public func runEpoch(onBatch: (Int, Int, LossParts) -> Bool = { _, _, _ in true }) -> EpochRecord? {
        let epoch = completedEpochs + 1
        var order = Array(0..<train.count)
        var shuffler = SplitMix64(seed: options.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        order.shuffle(using: &shuffler)
        var rng = Xoshiro256StarStar(seed: options.seed ^ (UInt64(epoch) &* 0xD1B5_4A32_D192_ED03))
        var flips = SplitMix64(seed: options.seed &+ UInt64(epoch) &* 0xA24B_AED4_963E_E407)
        let flip = options.flip ?? false
        // Its own stream, so that runs without shifts draw exactly the flips they always drew.
        var shifts = SplitMix64(seed: options.seed &+ UInt64(epoch) &* 0xC2B2_AE3D_27D4_EB4F)
        let shift = UInt64(max(0, options.shift ?? 0))

        // Data-parallel steps want one BLAS thread per worker; evaluation below goes back to the caller's count.
        let blasThreads = BLAS.threadCount
        if parallel != nil { BLAS.threadCount = 1 }
        defer { BLAS.threadCount = blasThreads }
        let started = MonotonicClock.seconds()
        var reconstruction = 0.0, kl = 0.0
        let side = train.side
        var batchStart = 0
        while batchStart < order.count {
            let indices = order[batchStart..<min(order.count, batchStart + options.batchSize)]
            let moves = (0..<indices.count).map { _ in
                var move = Augmentation(mirrored: flip && flips.next() & 1 == 1)
                if shift > 0 {
                    move.dx = Int(shifts.next() % (2 * shift + 1)) - Int(shift)
                    move.dy = Int(shifts.next() % (2 * shift + 1)) - Int(shift)
                }
                return move
            }
            let x = Tensor(shape: [indices.count, 1, side, side]) { train.fill($0, with: indices, augmentation: { moves[$0] }) }
            let parts = parallel?.step(batch: x, beta: beta(atStep: step), samples: options.samples, rng: &rng)
                ?? model.trainStep(batch: x, beta: beta(atStep: step), samples: options.samples, rng: &rng)
            step += 1
            reconstruction += parts.reconstruction * Double(indices.count)
            kl += parts.kl * Double(indices.count)
            batchStart += indices.count
            let running = LossParts(reconstruction: reconstruction / Double(batchStart), kl: kl / Double(batchStart))
            if !onBatch(batchStart, order.count, running) { return nil }
        }
        let seconds = MonotonicClock.seconds() - started
        BLAS.threadCount = blasThreads
        let (validationParts, perDimension) = evaluate(validation, seed: options.seed &+ UInt64(epoch))
        let record = EpochRecord(
            epoch: epoch,
            trainReconstruction: reconstruction / Double(train.count), trainKL: kl / Double(train.count),
            validationReconstruction: validationParts.reconstruction, validationKL: validationParts.kl,
            activeDimensions: perDimension.filter { $0 > Self.activeThreshold }.count,
            seconds: seconds, imagesPerSecond: Double(train.count) / max(seconds, 1e-9),
            gflops: model.trainingFlopsPerImage * Double(options.samples) * Double(train.count) / max(seconds, 1e-9) * 1e-9)
        history.append(record)
        return record
    }

    /// A latent dimension is active when its mean KL exceeds this many nats; the codec sends only active dimensions
    /// (`RateLadder`), since the others carry nothing worth a bit.
    public static let activeThreshold = 0.01

    /// -ELBO (one sample of z per image) and mean KL per latent dimension over a whole dataset.
    public func evaluate(_ data: ImageDataset, seed: UInt64) -> (LossParts, [Double]) {
        var rng = Xoshiro256StarStar(seed: seed)
        let chunk = 500, side = data.side
        var reconstruction = 0.0, kl = 0.0
        var perDimension = [Double](repeating: 0, count: model.config.latent)
        var start = 0
        while start < data.count {
            let indices = (start..<min(data.count, start + chunk))
            let x = Tensor(shape: [indices.count, 1, side, side]) { data.fill($0, with: ArraySlice(indices)) }
            let parts = model.evaluate(x, rng: &rng)
            reconstruction += parts.reconstruction * Double(indices.count)
            kl += parts.kl * Double(indices.count)
            for (d, value) in model.klPerDimension(x).enumerated() { perDimension[d] += value * Double(indices.count) }
            start = indices.upperBound
        }
        let n = Double(max(1, data.count))
        return (LossParts(reconstruction: reconstruction / n, kl: kl / n), perDimension.map { $0 / n })
    }
}

public enum MonotonicClock {
    public static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
