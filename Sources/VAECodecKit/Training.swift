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
        /// How to store the final weights (`WeightStorage`: F32, F16, or I8 with a scale per row); checkpoints stay F32.
        public var weights: WeightStorage
        /// Replace an existing model file (and checkpoint).
        public var overwrite: Bool

        public init(data: DatasetSpec, output: String, config: VAEConfig, options: TrainingOptions = .init(),
                    validationFraction: Double = 0.1, resume: Bool = false, initialWeights: String? = nil,
                    weights: WeightStorage = .float32, overwrite: Bool = false) {
            (self.data, self.output, self.config, self.options, self.validationFraction) = (data, output, config, options, validationFraction)
            (self.resume, self.initialWeights, self.weights, self.overwrite) = (resume, initialWeights, weights, overwrite)
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
    /// training split (``calibrate(_:name:on:training:hyperprior:weights:progress:)``) and writes the codec model to `job.output`.
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
            let codecModel = try calibrate(model, name: job.output, on: train, training: state(), weights: job.weights) {
                _ = events(.fitting(done: $0, total: train.count))
            }
            try Files.writeAtomically(codecModel.serialized(weights: job.weights), to: job.output, overwrite: job.overwrite || job.resume)
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
    ///   - hyperprior: trained hyperprior networks to fit as well (`Hyperprior/trained(in:file:)`), or nil.
    ///   - weights: how the model's file will store its weights. The tables are fitted to the weights as that file gives
    ///     them back (rounded to F16 or I8), so that they are the tables of the model the file holds: rounding moves the
    ///     encoder's means, and can move a latent's KL across the threshold that decides whether it is sent.
    ///   - progress: training images encoded so far.
    /// - Returns: the codec model, its weights as stored with `weights` (`vae` itself is left as it is).
    public static func calibrate(_ vae: VAEModel, name: String, on train: ImageDataset, training: TrainingState? = nil,
                                 hyperprior: Hyperprior.Trained? = nil, weights: WeightStorage = .float32,
                                 progress: (Int) -> Void = { _ in }) throws(VAECodecError) -> CodecModel {
        try VAECodecError.naming(name) {
            let stored = weights == .float32 ? vae : try ModelFile.load(ModelFile.serialize(vae, training: nil, weights: weights), name: name).model
            return try CodecModel.fit(name: name, vae: stored, on: train, training: training, hyperprior: hyperprior, progress: progress)
        }
    }

    /// Fits new codec tables for the model file at `path` on the training split it was trained on
    /// (``trainingSplit(of:data:validationFraction:seed:recrop:)``, without re-cropping), and writes weights and tables
    /// to `output`. A hyperprior the file carries (trained networks, or an earlier calibration's) is fitted too.
    /// - Parameters:
    ///   - path: the model file.
    ///   - data: the images; its crop and limit must be nil or the model's recorded ones.
    ///   - validationFraction: the held-out share of a model without a training record (nil: 0.1); for one with a
    ///     record, nil or the recorded share.
    ///   - seed: the split's seed, likewise (nil: 1).
    ///   - output: the codec model file to write.
    ///   - weights: how to store the weights (`WeightStorage`: F32, F16 or I8 with a scale per row).
    ///   - overwrite: replace an existing `output`.
    ///   - loading: images read so far, and in all.
    ///   - progress: training images encoded so far, and in all.
    /// - Throws: ``VAECodecError`` when `output` exists and `overwrite` is false, the model or data cannot be read, or
    ///   `data`, `validationFraction` or `seed` ask for a split other than the model's training record.
    @discardableResult
    public static func calibrate(modelFile path: String, data: DatasetSpec, validationFraction: Double? = nil, seed: UInt64? = nil,
                                 output: String, weights: WeightStorage = .float32, overwrite: Bool = false,
                                 loading: @Sendable (Int, Int) -> Void = { _, _ in },
                                 progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws(VAECodecError) -> CodecModel {
        try VAECodecError.naming(path) {
            if !overwrite && Files.exists(output) { throw VAECodecError(file: output, problem: "already exists (overwrite it)") }
            let file = try ModelFile.load(path: path)
            let state = file.training
            var split = try trainingSplit(of: state.map { [(path, $0)] } ?? [], data: data, validationFraction: validationFraction,
                                          seed: seed, recrop: false)
            split.spec.side = file.model.config.canvas
            let (train, _) = try split.spec.loadSplit(validationFraction: split.validationFraction, seed: split.seed, progress: loading)
            let hyperprior = try Hyperprior.trained(in: file.extraTensors, file: path)
            let codecModel = try calibrate(file.model, name: output, on: train, training: state, hyperprior: hyperprior, weights: weights) {
                progress($0, train.count)
            }
            try Files.writeAtomically(codecModel.serialized(weights: weights), to: output, overwrite: overwrite)
            return codecModel
        }
    }

    /// The split models were trained on, from their training records: the images (`data` with the recorded crop and
    /// limit), the held-out share and the seed. Each option given must agree with the records, except the crop when
    /// `recrop`; the defaults, where no model has a record, are those of `train` (0.1 and 1).
    /// - Parameters:
    ///   - records: each model's name and training record (models without one left out).
    ///   - data: the images, with the crop and limit asked for (nil: the recorded ones).
    ///   - validationFraction: the held-out share asked for (nil: the recorded one).
    ///   - seed: the split's seed asked for (nil: the recorded one).
    ///   - recrop: whether `data` may crop the images otherwise than the records: cropping differently does not
    ///     change which people are held out, so a bench may, but tables fitted on other crops are other tables.
    /// - Throws: ``VAECodecError`` naming a model, when the records disagree or an option contradicts them.
    public static func trainingSplit(of records: [(model: String, record: TrainingState)], data: DatasetSpec,
                                     validationFraction: Double? = nil, seed: UInt64? = nil,
                                     recrop: Bool) throws(VAECodecError) -> (spec: DatasetSpec, validationFraction: Double, seed: UInt64) {
        func recorded<T: Hashable>(_ value: (TrainingState) -> T, _ flag: String, option: T?, describe: (T) -> String) throws(VAECodecError) -> T? {
            guard let first = records.first else { return nil }
            let firstValue = value(first.record)
            if let other = records.first(where: { value($0.record) != firstValue }) {
                throw VAECodecError(file: first.model, problem: "was trained on another split than \(other.model) (\(flag) \(describe(firstValue)) "
                                    + "against \(describe(value(other.record)))); use them one at a time")
            }
            if let option, option != firstValue {
                throw VAECodecError(file: first.model, problem: "was trained on the split of \(flag) \(describe(firstValue)) (its training "
                                    + "record), not \(describe(option)): drop \(flag) or pass that value")
            }
            return firstValue
        }
        func text(_ value: Int?) -> String { value.map(String.init) ?? "none" }
        var spec = data
        if let limit = try recorded(\.limit, "--limit", option: data.limit.map(Optional.some), describe: text) { spec.limit = limit }
        if recrop {
            let crops = Set(records.map(\.record.crop))
            if spec.crop == nil, crops.count > 1 {
                throw VAECodecError(file: records[0].model, problem: "and the other models were trained on different crops "
                                    + "(\(crops.map(text).sorted().joined(separator: ", "))): pass --crop")
            }
            if spec.crop == nil, let first = records.first { spec.crop = first.record.crop }
        } else if let crop = try recorded(\.crop, "--crop", option: data.crop.map(Optional.some), describe: text) {
            spec.crop = crop
        }
        let share = try recorded({ $0.validationFraction ?? 0.1 }, "--val-fraction", option: validationFraction, describe: { "\($0)" })
        let recordedSeed = try recorded({ $0.options.seed }, "--seed", option: seed, describe: { "\($0)" })
        return (spec, share ?? validationFraction ?? 0.1, recordedSeed ?? seed ?? 1)
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
