extension VAECodec {
    /// One training run: what to train, on which data, and where the model goes.
    public struct TrainingJob: Sendable {
        /// The images, their crop and canvas side; validation holds out whole people (`DatasetSpec/loadSplit(validationFraction:seed:progress:)`).
        public var data: DatasetSpec
        /// The model file to write; its checkpoint is `output + ".checkpoint"`, written after every epoch.
        public var output: String
        /// The network of a new run (a resumed run keeps its checkpoint's).
        public var config: VAEConfig
        /// The hyperparameters of a new run; a resumed run keeps its checkpoint's, except `epochs`, the new total.
        public var options: TrainingOptions
        public var validationFraction: Double
        /// Continue from the checkpoint, exactly as if the run had never stopped.
        public var resume: Bool
        /// Start from this model file's weights (same architecture; likelihood and beta may differ).
        public var initialWeights: String?
        /// Store the final weights as 16-bit floats.
        public var halfPrecision: Bool
        /// Replace an existing model file (and checkpoint).
        public var overwrite: Bool

        public init(data: DatasetSpec, output: String, config: VAEConfig, options: TrainingOptions = .init(),
                    validationFraction: Double = 0.1, resume: Bool = false, initialWeights: String? = nil,
                    halfPrecision: Bool = false, overwrite: Bool = false) {
            (self.data, self.output, self.config, self.options, self.validationFraction) = (data, output, config, options, validationFraction)
            (self.resume, self.initialWeights, self.halfPrecision, self.overwrite) = (resume, initialWeights, halfPrecision, overwrite)
        }

        public var checkpoint: String { output + ".checkpoint" }
    }

    /// What a run reports as it goes, for progress and logs.
    public enum TrainingEvent {
        /// The checkpoint was read; training continues after `epoch`.
        case resumed(epoch: Int)
        /// Data and model are ready.
        case ready(train: Int, validation: Int, model: VAEModel)
        /// A batch of `epoch` ended; `loss` is the running average. Return false to stop at this batch (the last
        /// checkpoint stays).
        case batch(epoch: Int, done: Int, total: Int, loss: LossParts)
        /// An epoch ended and its checkpoint was written.
        case epoch(EpochRecord)
        /// Fitting the codec's ladder and tables: `done` of `total` training images encoded.
        case fitting(done: Int, total: Int)
    }

    /// Trains a VAE by maximising the ELBO, checkpointing every epoch, then fits its codec ladder and tables on the
    /// training split (``calibrate(_:name:on:training:progress:)``) and writes the codec model to `job.output`.
    /// - Parameters:
    ///   - job: what to train, on which data, and where to write it.
    ///   - loading: files of the data read so far, and in all; called from the reading threads.
    ///   - events: progress; returning false from a `.batch` event stops the run.
    /// - Returns: the codec model written.
    /// - Throws: ``VAECodecError`` when the data or a model file cannot be read, an output exists without
    ///   `overwrite`, or the run was stopped (the problem says which checkpoint holds what).
    @discardableResult
    public static func train(_ job: TrainingJob, loading: @Sendable (Int, Int) -> Void = { _, _ in },
                             events: (TrainingEvent) -> Bool = { _ in true }) throws(VAECodecError) -> CodecModel {
        try VAECodecError.naming(job.output) {
            for path in [job.output, job.checkpoint] where !job.resume && !job.overwrite && Files.exists(path) {
                throw VAECodecError(file: path, problem: "already exists (overwrite it, or resume the run)")
            }
            var (options, spec, validationFraction) = (job.options, job.data, job.validationFraction)
            let model: VAEModel
            var history: [EpochRecord] = []
            if job.resume {
                let checkpoint = try ModelFile.load(path: job.checkpoint)
                guard let state = checkpoint.training, checkpoint.metadata["adam_step"] != nil else {
                    throw VAECodecError(file: job.checkpoint, problem: "is a finished model, not a training checkpoint")
                }
                (model, options, history) = (checkpoint.model, state.options, state.history)
                (spec.crop, spec.limit, spec.side) = (state.crop, state.limit, model.config.canvas)
                validationFraction = state.validationFraction ?? validationFraction
                options.epochs = job.options.epochs
                _ = events(.resumed(epoch: history.count))
            } else {
                model = try VAEModel(config: job.config, seed: options.seed)
                if let initialWeights = job.initialWeights { try copyWeights(from: initialWeights, into: model) }
            }
            let (train, validation) = try spec.loadSplit(validationFraction: validationFraction, seed: options.seed, progress: loading)
            guard train.count > 0 else { throw VAECodecError(file: spec.path, problem: "no images left for training") }
            _ = events(.ready(train: train.count, validation: validation.count, model: model))

            let trainer = Trainer(model: model, train: train, validation: validation, options: options, history: history)
            let description = "\(spec.path) (\(train.count) train / \(validation.count) validation\(spec.crop.map { ", crop \($0)" } ?? ""))"
            func state() -> TrainingState {
                TrainingState(options: options, history: trainer.history, data: description, crop: spec.crop, limit: spec.limit,
                              validationFraction: validationFraction)
            }
            while trainer.completedEpochs < options.epochs {
                let epoch = trainer.completedEpochs + 1
                guard let record = trainer.runEpoch(onBatch: { done, total, loss in events(.batch(epoch: epoch, done: done, total: total, loss: loss)) }) else {
                    let kept = trainer.completedEpochs == 0 ? "no checkpoint yet" : "\(job.checkpoint) holds epoch \(trainer.completedEpochs)"
                    throw VAECodecError(file: job.output, problem: "training stopped in epoch \(epoch); \(kept)")
                }
                try Files.writeAtomically(ModelFile.serialize(model, training: state(), optimizerState: true), to: job.checkpoint, overwrite: true)
                _ = events(.epoch(record))
            }
            let codecModel = try calibrate(model, name: job.output, on: train, training: state()) { _ = events(.fitting(done: $0, total: train.count)) }
            try Files.writeAtomically(codecModel.serialized(halfPrecision: job.halfPrecision), to: job.output, overwrite: job.overwrite || job.resume)
            return codecModel
        }
    }

    /// Turns a trained VAE into a codec model: encodes the training images, keeps the latent dimensions whose mean
    /// KL is above `Trainer/activeThreshold`, and fits each rung's quantisation steps and entropy tables. What
    /// ``train(_:loading:events:)`` does after its last epoch, for a network trained anywhere (the safetensors layout of
    /// MODEL_FORMAT.md).
    /// - Parameters:
    ///   - vae: the trained network.
    ///   - name: the model's name (its path, for a file).
    ///   - train: the images it was trained on (its training split).
    ///   - training: the run's record, stored in the file.
    ///   - progress: training images encoded so far.
    public static func calibrate(_ vae: VAEModel, name: String, on train: ImageDataset, training: TrainingState? = nil,
                                 progress: (Int) -> Void = { _ in }) throws(VAECodecError) -> CodecModel {
        try VAECodecError.naming(name) { try CodecModel.fit(name: name, vae: vae, on: train, training: training, progress: progress) }
    }

    /// Fits new codec tables (`progress`: training images encoded, and in all) for the model file at `path` on the training split it was trained on (its recorded crop,
    /// limit, seed and validation share; `data` supplies the images), and writes weights and tables to `output`.
    /// - Throws: ``VAECodecError`` when `output` exists and `overwrite` is false, the model or data cannot be read, or
    ///   `data` asks for a crop or limit other than the model's training record.
    @discardableResult
    public static func calibrate(modelFile path: String, data: DatasetSpec, validationFraction: Double = 0.1, seed: UInt64 = 1,
                                 output: String, halfPrecision: Bool = false, overwrite: Bool = false,
                                 loading: @Sendable (Int, Int) -> Void = { _, _ in },
                                 progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws(VAECodecError) -> CodecModel {
        try VAECodecError.naming(path) {
            if !overwrite && Files.exists(output) { throw VAECodecError(file: output, problem: "already exists (overwrite it)") }
            let file = try ModelFile.load(path: path)
            let state = file.training
            if let state {
                // The record decides the split; an explicit crop or limit that differs would fit the tables on other images.
                func describe(_ value: Int?) -> String { value.map(String.init) ?? "none" }
                for (name, asked, recorded) in [("crop", data.crop, state.crop), ("limit", data.limit, state.limit)] where asked != nil && asked != recorded {
                    throw VAECodecError(file: path, problem: "was trained with \(name) \(describe(recorded)) (its training record), not \(describe(asked)); "
                                        + "calibrate fits on the split it was trained on: leave the \(name) out")
                }
            }
            var spec = data
            (spec.crop, spec.limit, spec.side) = (state?.crop ?? data.crop, state?.limit ?? data.limit, file.model.config.canvas)
            let (train, _) = try spec.loadSplit(validationFraction: state?.validationFraction ?? validationFraction,
                                                seed: state?.options.seed ?? seed, progress: loading)
            let hyperprior = try Hyperprior.trained(in: file.extraTensors, file: path)
            let codecModel = try CodecModel.fit(name: output, vae: file.model, on: train, training: state, hyperprior: hyperprior) {
                progress($0, train.count)
            }
            try Files.writeAtomically(codecModel.serialized(halfPrecision: halfPrecision), to: output, overwrite: overwrite)
            return codecModel
        }
    }

    /// Writes the training and held-out canvases of `data`'s split (the one ``train(_:loading:events:)`` makes with
    /// these `validationFraction` and `seed`) into `folder` as IDX files with a `split.json` record, for a trainer
    /// outside vaecodec (Training/torch) to see exactly the images `train` would.
    /// - Returns: the record written.
    /// - Throws: ``VAECodecError`` when the data cannot be read or a file exists and `overwrite` is false.
    @discardableResult
    public static func exportSplit(_ data: DatasetSpec, to folder: String, validationFraction: Double = 0.1, seed: UInt64 = 1,
                                   overwrite: Bool = false,
                                   loading: @Sendable (Int, Int) -> Void = { _, _ in }) throws(VAECodecError) -> DatasetSpec.SplitRecord {
        try VAECodecError.naming(data.path) {
            try data.writeSplit(to: folder, validationFraction: validationFraction, seed: seed, overwrite: overwrite, progress: loading)
        }
    }

    /// Copies every weight of the model file at `path` into `model`, which must have the same architecture (the
    /// learned likelihood variance is left as it is).
    static func copyWeights(from path: String, into model: VAEModel) throws {
        let source = try ModelFile.load(path: path).model
        let values = Dictionary(uniqueKeysWithValues: source.parameters.map { ($0.name, $0.value) })
        for p in model.parameters where p.name != "likelihood.logvar" {
            guard let value = values[p.name], value.shape == p.value.shape else {
                throw VAECodecError(file: path, problem: "does not match this architecture (\(p.name) \(p.value.shape) is \(values[p.name].map { "\($0.shape)" } ?? "missing"))")
            }
            p.value = value
        }
    }
}
