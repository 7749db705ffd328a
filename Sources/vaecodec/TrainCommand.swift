import ArgumentParser
import Codec
import Glibc
import ImageIO
import NeuralNet
import VAE

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a VAE on MNIST or a folder of images and write a model file (safetensors).",
        discussion: """
            --data takes an MNIST IDX image file (.gz or raw), a folder with MNIST's train and t10k files \
            (t10k becomes the validation set), or a folder of PNG/JPEG images (one sub-folder per person, as \
            in LFW; validation holds out whole people). A checkpoint, MODEL.checkpoint, is written after \
            every epoch; Ctrl-C stops at the next batch and keeps the last one; --resume continues exactly.
            """)

    @Option(help: "Training data: IDX file, MNIST folder, or image folder.")
    var data: String

    @Option(name: .shortAndLong, help: "Model file to write (safetensors).")
    var out: String

    @Option(help: "mlp (Kingma & Welling's), conv (strided convolutions to a global latent) or spatial (an 8x8 grid of latent vectors, no dense layer).")
    var arch: VAEConfig.Architecture = .conv

    @Option(help: "Latent dimensions.")
    var latent = 128

    @Option(help: "mlp: hidden widths, comma-separated (e.g. 400 or 500,250); conv: base channel count.")
    var hidden: String?

    @Option(help: "bernoulli, gaussian (fixed variance, see --log-variance), gaussian-global or gaussian-pixel (learned).")
    var likelihood = "gaussian-global"

    @Option(parsing: .unconditional,
            help: "log sigma^2 of a fixed Gaussian likelihood, pixels on 0...1: sets the rate-distortion point.")
    var logVariance: Float = -6

    @Option(help: "Weight on the KL term.")
    var beta: Float = 1

    @Option(help: "KL warm-up: beta rises from 0 over this many steps.")
    var warmup = 0

    @Option(help: "Epochs in total (with --resume: the new total).")
    var epochs = 10

    @Option(help: "Images per batch.")
    var batch = 128

    @Option(help: "Adam learning rate.")
    var lr: Float = 1e-3

    @Option(help: "Global gradient-norm clipping (off by default).")
    var clip: Float?

    @Option(help: "Seed for initialisation, shuffling, noise and the validation split.")
    var seed: UInt64 = 1

    @Option(help: "Cores to split each batch across, 1 or 2 (default: 2 for conv, 1 for mlp, the faster on this machine); kept from the checkpoint on --resume.")
    var workers: Int?

    @Option(help: "Monte Carlo samples of z per image.")
    var samples = 1

    @Option(help: "Side of the central square to keep, in source pixels (LFW faces: 110).")
    var crop: Int?

    @Option(help: "Canvas side in pixels (MNIST's own is 28).")
    var canvas = Canvas.defaultSide

    @Option(help: "Share of the images held out for validation (image folders and single IDX files).")
    var valFraction = 0.1

    @Option(help: "Use only the first N images (quick experiments).")
    var limit: Int?

    @Flag(help: "Augment: mirror each training image left to right with probability 1/2 (faces).")
    var flip = false

    @Option(help: "Augment: move each training image by up to N pixels in x and y, repeating the edges (faces: 2).")
    var shift = 0

    @Flag(help: "Continue from MODEL.checkpoint.")
    var resume = false

    @Option(help: "Start from this model file's weights (same architecture; the likelihood and --beta may differ): moves a trained model to another rate-distortion point.")
    var initFrom: String?

    @Option(help: "Train nothing: fit new codec tables (the current rate ladder) for this model file's weights on its own training split of --data, and write them with the weights to --out.")
    var refit: String?

    @Flag(help: "Store the final model's weights as 16-bit floats (half the size; checkpoints stay 32-bit).")
    var halfPrecision = false

    @Flag(help: "Overwrite an existing model file.")
    var force = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if shift < 0 || shift > 8 { throw ValidationError("--shift must be 0...8 pixels") }
        if batch < 1 || batch > 65536 { throw ValidationError("--batch must be in 1...65536") }
        if !(lr > 0) { throw ValidationError("--lr must be positive") }
        if !(0..<1).contains(valFraction) { throw ValidationError("--val-fraction must be in [0, 1)") }
        if samples < 1 { throw ValidationError("--samples must be at least 1") }
        if let workers, !(1...2).contains(workers) { throw ValidationError("--workers must be 1 or 2") }
        if let crop, crop < 1 { throw ValidationError("--crop must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if !(4...1024).contains(canvas) { throw ValidationError("--canvas must be in 4...1024") }
        if beta < 0 { throw ValidationError("--beta must not be negative") }
        _ = try likelihoodConfig()
    }

    func likelihoodConfig() throws -> VAEConfig.Likelihood {
        switch likelihood {
        case "bernoulli": return .bernoulli
        case "gaussian": return .gaussian(.fixed(logVariance: logVariance))
        case "gaussian-global": return .gaussian(.learnedGlobal)
        case "gaussian-pixel": return .gaussian(.learnedPerPixel)
        default: throw ValidationError("--likelihood must be bernoulli, gaussian, gaussian-global or gaussian-pixel")
        }
    }

    func run() throws {
        if let refit { return try refitCodec(refit) }
        let checkpointPath = out + ".checkpoint"
        for path in [out, checkpointPath] where !resume && !force && Files.exists(path) {
            throw ImageError(file: path, problem: "already exists (use --force to overwrite, or --resume to continue)")
        }
        let quiet = common.quiet

        // Model and options: fresh, or exactly as the checkpoint left them.
        var options = TrainingOptions()
        let model: VAEModel
        var history: [EpochRecord] = []
        var spec = DatasetSpec(path: data, crop: crop, side: canvas, limit: limit)
        var validationFraction = valFraction
        if resume {
            let checkpoint = try ModelFile.load(Files.read(checkpointPath, limit: 1 << 31), name: checkpointPath)
            guard let state = checkpoint.training, checkpoint.metadata["adam_step"] != nil else {
                throw ImageError(file: checkpointPath, problem: "is a finished model, not a training checkpoint")
            }
            model = checkpoint.model
            options = state.options
            history = state.history
            spec.crop = state.crop
            spec.limit = state.limit
            validationFraction = state.validationFraction ?? valFraction
            spec.side = model.config.canvas
            Terminal.info("resuming \(checkpointPath) after epoch \(history.count)", quiet: quiet)
        } else {
            var config = VAEConfig(arch: arch, canvas: canvas, latent: latent,
                                   hidden: try hiddenWidths(), likelihood: try likelihoodConfig())
            config.activation = .relu
            model = try VAEModel(config: config, seed: seed)
            if let initFrom { try copyWeights(from: initFrom, into: model) }
            options.batchSize = batch
            options.learningRate = lr
            options.seed = seed
            options.beta = beta
            options.warmupSteps = warmup
            options.samples = samples
            options.maxGradientNorm = clip
            options.workers = workers ?? (arch == .mlp ? 1 : 2)
            options.flip = flip
            options.shift = shift
        }
        options.epochs = epochs
        if history.count >= options.epochs {
            Terminal.info("already trained for \(history.count) epochs: writing the final model (raise --epochs to train on)", quiet: quiet)
        }

        let (train, validation) = try loadData(spec, seed: options.seed, validationFraction: validationFraction, quiet: quiet)
        Terminal.info("data: \(train.count) training and \(validation.count) validation images at \(train.side)x\(train.side) from \(data)", quiet: quiet)
        Terminal.info("model: \(model.config.summary), \(model.parameterCount) parameters, "
                      + "\(fixed(model.trainingFlopsPerImage * 1e-6)) MFLOP per image and step", quiet: quiet)
        let reference = OpenBLASReference.measureGFLOPS().map { "OpenBLAS (\(OpenBLASReference.coreName ?? "?")) sgemm 1024^3 at \(fixed($0)) GFLOP/s" }
        Terminal.info("reference: \(reference ?? "OpenBLAS is not installed") on 2 threads; vaecodec's own kernels (\(BLAS.kernelSet)) "
                      + "\(fixed(BLAS.measureGFLOPS())) GFLOP/s", quiet: quiet)

        let trainer = Trainer(model: model, train: train, validation: validation, options: options, history: history)
        let interrupt = InterruptFlag.install()
        let description = "\(data) (\(train.count) train / \(validation.count) validation\(spec.crop.map { ", crop \($0)" } ?? ""))"
        while trainer.completedEpochs < options.epochs {
            let epoch = trainer.completedEpochs + 1
            let progress = Progress("epoch \(epoch)/\(options.epochs)", total: train.count, quiet: quiet)
            var stopped = false
            let record = trainer.runEpoch { done, total, running in
                progress.update(done, detail: "loss \(fixed(running.negativeELBO))")
                if interrupt.isSet { stopped = true }
                return !stopped
            }
            progress.finish()
            if stopped || record == nil {
                Terminal.info("interrupted in epoch \(epoch); \(trainer.completedEpochs == 0 ? "no checkpoint yet" : "\(checkpointPath) holds epoch \(trainer.completedEpochs)")", quiet: false)
                throw ExitCode(130)
            }
            Terminal.info(record!.logLine, quiet: quiet)
            let state = TrainingState(options: options, history: trainer.history, data: description, crop: spec.crop,
                                      limit: spec.limit, validationFraction: validationFraction)
            try Files.writeAtomically(ModelFile.serialize(model, training: state, optimizerState: true),
                                      to: checkpointPath, overwrite: true)
        }

        let state = TrainingState(options: options, history: trainer.history, data: description, crop: spec.crop,
                                      limit: spec.limit, validationFraction: validationFraction)
        try writeCodecModel(model, state: state, fittedOn: train, overwrite: force || resume)
    }

    /// The codec's quantization steps and entropy tables come from the training set's posteriors.
    func writeCodecModel(_ model: VAEModel, state: TrainingState?, fittedOn train: ImageDataset, overwrite: Bool) throws {
        let fitting = Progress("fitting the entropy model", total: train.count, quiet: common.quiet)
        let codecModel = try CodecModel.fit(name: out, vae: model, on: train, training: state) { fitting.update($0) }
        fitting.finish()
        try Files.writeAtomically(codecModel.serialized(halfPrecision: halfPrecision), to: out, overwrite: overwrite)
        let transmitted = codecModel.ladder.rungs[0].quantizer.transmitted.count
        Terminal.info("wrote \(out): \(model.config.summary), \(transmitted) of \(model.config.latent) latent dimensions "
                      + "transmitted, \(codecModel.ladder.rungs.count) quality rungs", quiet: common.quiet)
    }

    func copyWeights(from path: String, into model: VAEModel) throws {
        let source = try ModelFile.load(Files.read(path, limit: 1 << 31), name: path).model
        let values = Dictionary(uniqueKeysWithValues: source.parameters.map { ($0.name, $0.value) })
        for p in model.parameters where p.name != "likelihood.logvar" {
            guard let value = values[p.name], value.shape == p.value.shape else {
                throw ImageError(file: path, problem: "does not match this architecture (\(p.name) \(p.value.shape) is \(values[p.name].map { "\($0.shape)" } ?? "missing"))")
            }
            p.value = value
        }
        Terminal.info("initialised from \(path)", quiet: common.quiet)
    }

    /// The weights stay; the ladder is fitted anew on the same training split the model was trained on.
    func refitCodec(_ path: String) throws {
        if !force && Files.exists(out) { throw ImageError(file: out, problem: "already exists (use --force to overwrite)") }
        let file = try ModelFile.load(Files.read(path, limit: 1 << 30), name: path)
        let state = file.training
        let spec = DatasetSpec(path: data, crop: state?.crop ?? crop, side: file.model.config.canvas, limit: state?.limit ?? limit)
        let (train, _) = try loadData(spec, seed: state?.options.seed ?? seed,
                                      validationFraction: state?.validationFraction ?? valFraction, quiet: common.quiet)
        Terminal.info("refitting \(path) on \(train.count) training images from \(data)", quiet: common.quiet)
        try writeCodecModel(file.model, state: state, fittedOn: train, overwrite: force)
    }

    func hiddenWidths() throws -> [Int] {
        guard let hidden else { return arch == .mlp ? [400] : [32] }
        let widths = hidden.split(separator: ",").map { Int($0.filter { $0 != " " }) }
        guard !widths.isEmpty, widths.allSatisfy({ $0 != nil && $0! > 0 }) else {
            throw ValidationError("--hidden takes positive integers separated by commas")
        }
        return widths.map { $0! }
    }

    func loadData(_ spec: DatasetSpec, seed: UInt64, validationFraction: Double, quiet: Bool) throws -> (ImageDataset, ImageDataset) {
        if let pair = spec.mnistPair {
            return (try spec.loadIDX(pair.train), try spec.loadIDX(pair.test))
        }
        let loading = Progress("loading \(spec.path)", total: 1, quiet: quiet)
        let all = try spec.load { done, total in loading.update(done, total: total) }
        loading.finish()
        let split = all.splitByIdentity(validationFraction: validationFraction, seed: seed)
        guard split.train.count > 0 else { throw ImageError(file: spec.path, problem: "no images left for training") }
        return (split.train, split.validation)
    }
}

extension VAEConfig.Architecture: ExpressibleByArgument {}
