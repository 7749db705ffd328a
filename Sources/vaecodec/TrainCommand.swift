import ArgumentParser
import VAECodecKit

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

    @OptionGroup var weights: WeightOptions

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
        let quiet = common.quiet
        var config = VAEConfig(arch: arch, canvas: canvas, latent: latent, hidden: try hiddenWidths(), likelihood: try likelihoodConfig())
        config.activation = .relu
        var options = TrainingOptions()
        (options.epochs, options.batchSize, options.learningRate, options.seed, options.beta) = (epochs, batch, lr, seed, beta)
        (options.warmupSteps, options.samples, options.maxGradientNorm) = (warmup, samples, clip)
        (options.workers, options.flip, options.shift) = (workers ?? (arch == .mlp ? 1 : 2), flip, shift)
        let job = VAECodec.TrainingJob(data: DatasetSpec(path: data, crop: crop, side: canvas, limit: limit), output: out, config: config,
                                       options: options, validationFraction: valFraction, resume: resume, initialWeights: initFrom,
                                       weights: weights.storage, overwrite: force)
        if !resume && !force, let existing = [out, job.checkpoint].first(where: Files.exists) {
            throw ImageError(file: existing, problem: "already exists (use --force to overwrite, or --resume to continue)")
        }
        var interrupt: InterruptFlag?  // installed once the data is read: Ctrl-C while loading ends the process at once
        let loading = Progress("loading \(data)", total: 1, quiet: quiet)
        var progress: Progress?
        let model: CodecModel
        do {
            model = try VAECodec.train(job, loading: { loading.update($0, total: $1) }) { event in
                switch event {
                case .resumed(let epoch):
                    Terminal.info("resuming \(job.checkpoint) after epoch \(epoch)", quiet: quiet)
                    if epoch >= epochs { Terminal.info("already trained for \(epoch) epochs: writing the final model (raise --epochs to train on)", quiet: quiet) }
                case .ready(let train, let validation, let model):
                    loading.finish()
                    interrupt = InterruptFlag.install()
                    Terminal.info("data: \(train) training and \(validation) validation images at \(model.config.canvas)x\(model.config.canvas) from \(data)", quiet: quiet)
                    Terminal.info("model: \(model.config.summary), \(model.parameterCount) parameters, "
                                  + "\(fixed(model.trainingFlopsPerImage * 1e-6)) MFLOP per image and step", quiet: quiet)
                    let reference = OpenBLASReference.measureGFLOPS().map { "OpenBLAS (\(OpenBLASReference.coreName ?? "?")) sgemm 1024^3 at \(fixed($0)) GFLOP/s" }
                    Terminal.info("reference: \(reference ?? "OpenBLAS is not installed") on 2 threads; vaecodec's own kernels (\(BLAS.kernelSet)) "
                                  + "\(fixed(BLAS.measureGFLOPS())) GFLOP/s", quiet: quiet)
                case .batch(let epoch, let done, let total, let loss):
                    progress = progress ?? Progress("epoch \(epoch)/\(epochs)", total: total, quiet: quiet)
                    progress!.update(done, detail: "loss \(fixed(loss.negativeELBO))")
                    return !(interrupt?.isSet ?? false)
                case .epoch(let record):
                    progress?.finish()
                    progress = nil
                    Terminal.info(record.logLine, quiet: quiet)
                case .fitting(let done, let total):
                    progress = progress ?? Progress("fitting the entropy model", total: total, quiet: quiet)
                    progress!.update(done)
                }
                return true
            }
        } catch {
            progress?.finish()
            if interrupt?.isSet == true {
                Terminal.info("interrupted: \(error.problem)", quiet: false)
                throw ExitCode(130)
            }
            throw error
        }
        progress?.finish()
        reportCodecModel(model, path: out, quiet: quiet)
    }

    func hiddenWidths() throws -> [Int] {
        guard let hidden else { return arch == .mlp ? [400] : [32] }
        let widths = hidden.split(separator: ",").map { Int($0.filter { $0 != " " }) }
        guard !widths.isEmpty, widths.allSatisfy({ $0 != nil && $0! > 0 }) else {
            throw ValidationError("--hidden takes positive integers separated by commas")
        }
        return widths.map { $0! }
    }
}

extension VAEConfig.Architecture: ExpressibleByArgument {}

/// The line `train` and `calibrate` end with.
func reportCodecModel(_ model: CodecModel, path: String, quiet: Bool) {
    Terminal.info("wrote \(path): \(model.vae.config.summary), \(model.ladder.rungs[0].quantizer.transmitted.count) of \(model.vae.config.latent) "
                  + "latent dimensions transmitted, \(model.ladder.rungs.count) quality rungs" + hyperpriorSummary(model.ladder), quiet: quiet)
}

/// ", a hyperprior (H side latents) at rungs a, b, ..." for a ladder with one (or that no rung uses it), else nothing.
func hyperpriorSummary(_ ladder: RateLadder) -> String {
    guard let hyperprior = ladder.hyperprior else { return "" }
    let rungs = hyperprior.rungs.indices.filter { hyperprior.rungs[$0].enabled }
    guard !rungs.isEmpty else { return ", and a hyperprior that no rung uses (it saved no bits)" }
    return ", a hyperprior (\(hyperprior.sideCount) side latents) at rung\(rungs.count == 1 ? "" : "s") "
        + rungs.map { "\($0)" }.joined(separator: ", ")
}

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Turn a trained VAE model file into a codec model: fit its quantisation ladder and entropy tables.",
        discussion: """
            The weights stay as they are. The training images are encoded, the latent dimensions whose mean KL is \
            above \(Trainer.activeThreshold) nats are kept, and each rung's steps and tables are fitted, as `train` does after its last \
            epoch. A model trained by vaecodec is calibrated on the split it was trained on (its recorded crop, \
            limit, seed and --val-fraction; an option that contradicts the record is refused); one trained \
            elsewhere (docs/MODEL_FORMAT.md) on --data's training split under the options given here. A model with a hyperprior (Training/torch/hyperprior.py, or an \
            earlier calibrate) gets it fitted too: its side tables, and the rungs where it saves bits.
            """)

    @Argument(help: "The VAE model file (safetensors, docs/MODEL_FORMAT.md).")
    var model: String

    @OptionGroup var split: SplitOptions

    @Option(name: .shortAndLong, help: "The codec model file to write.")
    var output: String

    @OptionGroup var weights: WeightOptions

    @Flag(help: "Overwrite an existing output file.")
    var force = false

    @OptionGroup var common: CommonOptions

    func run() throws {
        if !force && Files.exists(output) { throw ImageError(file: output, problem: "already exists (use --force to overwrite)") }
        var progress: Progress?
        let codecModel = try VAECodec.calibrate(modelFile: model, data: split.spec(),
                                                validationFraction: split.valFraction, seed: split.seed, output: output,
                                                weights: weights.storage, overwrite: force, progress: { done, total in
            progress = progress ?? Progress("fitting the entropy model on \(total) training images", total: total, quiet: common.quiet)
            progress!.update(done)
        })
        progress?.finish()
        reportCodecModel(codecModel, path: output, quiet: common.quiet)
    }
}

struct SplitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Write the training and held-out canvases of a dataset's split as IDX files, for a trainer outside vaecodec.",
        discussion: """
            The images are exactly those `train` would see with the same --data, --crop, --canvas, --limit, \
            --val-fraction and --seed: cropped and converted to the canvas, whole people held out. OUT gets \
            train-images-idx3-ubyte, t10k-images-idx3-ubyte (the held-out images) and split.json, which records \
            those options. The folder is itself data for `train`, `calibrate` and `bench`, read as a ready split; \
            Training/torch/train.py trains on it.
            """)

    @OptionGroup var split: SplitOptions

    @Option(name: .shortAndLong, help: "The folder to write (created if missing).")
    var out: String

    @Option(help: "Canvas side in pixels.")
    var canvas = Canvas.defaultSide

    @Flag(help: "Overwrite existing files in the folder.")
    var force = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if !(4...1024).contains(canvas) { throw ValidationError("--canvas must be in 4...1024") }
    }

    func run() throws {
        let files = DatasetSpec.splitFiles
        if !force, let existing = [files.train, files.heldOut, files.record].map({ "\(out)/\($0)" }).first(where: Files.exists) {
            throw ImageError(file: existing, problem: "already exists (use --force to overwrite)")
        }
        let loading = Progress("loading \(split.data)", total: 1, quiet: common.quiet)
        let record = try VAECodec.exportSplit(split.spec(side: canvas), to: out,
                                              validationFraction: split.valFraction ?? 0.1, seed: split.seed ?? 1, overwrite: force,
                                              loading: { loading.update($0, total: $1) })
        loading.finish()
        Terminal.info("wrote \(out): \(record.trainImages) training and \(record.heldOutImages) held-out images at \(canvas)x\(canvas)", quiet: common.quiet)
    }
}

/// Which images and which split: what `split` exports and what `calibrate` fits on (a model trained by vaecodec
/// brings its own crop, limit, seed and share, which `calibrate` takes and options must not contradict).
struct SplitOptions: ParsableArguments {
    @Option(help: "Images: an IDX file, an MNIST folder, or a folder of PNG/JPEG images (as for train).")
    var data: String

    @Option(help: "Side of the central square to keep, in source pixels (LFW faces: 110).")
    var crop: Int?

    @Option(help: "Share of the images held out (image folders and single IDX files), as in train (default 0.1; calibrate: the model's training record).")
    var valFraction: Double?

    @Option(help: "Seed of the held-out split, the seed `train` would be given (default 1; calibrate: the model's training record).")
    var seed: UInt64?

    @Option(help: "Use only the first N images.")
    var limit: Int?

    func validate() throws {
        if let valFraction, !(0..<1).contains(valFraction) { throw ValidationError("--val-fraction must be in [0, 1)") }
        if let crop, crop < 1 { throw ValidationError("--crop must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func spec(side: Int = Canvas.defaultSide) -> DatasetSpec { DatasetSpec(path: data, crop: crop, side: side, limit: limit) }
}

/// How `train` and `calibrate` store the model's weights (`WeightStorage`); checkpoints stay 32-bit.
struct WeightOptions: ParsableArguments {
    @Flag(help: "Store the weights as 16-bit floats (half the size).")
    var halfPrecision = false

    @Flag(help: "Store weight matrices and kernels as 8-bit integers with one scale per row (a quarter of the size; vectors as 16-bit floats).")
    var int8Weights = false

    func validate() throws {
        if halfPrecision && int8Weights { throw ValidationError("--half-precision and --int8-weights: one storage at a time") }
    }

    var storage: WeightStorage { int8Weights ? .int8 : halfPrecision ? .float16 : .float32 }
}
