/// Everything besides weights that a checkpoint needs to continue a run, and that a model card reports.
public struct TrainingState: Codable, Equatable, Sendable {
    public var options: TrainingOptions
    public var history: [EpochRecord]
    /// Where the data came from, for the model's metadata.
    public var data: String
    public var crop: Int?
    /// The data selection, so `--resume` rebuilds the same train/validation split.
    public var limit: Int?
    public var validationFraction: Double?

    public init(options: TrainingOptions, history: [EpochRecord], data: String, crop: Int?,
                limit: Int? = nil, validationFraction: Double? = nil) {
        self.options = options
        self.history = history
        self.data = data
        self.crop = crop
        self.limit = limit
        self.validationFraction = validationFraction
    }

    public var trainingSeconds: Double { history.reduce(0) { $0 + $1.seconds } }
}

extension EpochRecord {
    public var logLine: String {
        "epoch \(epoch): train -ELBO \(fixed(trainNegativeELBO)) (rec \(fixed(trainReconstruction)) + KL \(fixed(trainKL))), "
            + "validation -ELBO \(fixed(validationNegativeELBO)) (rec \(fixed(validationReconstruction)) + KL \(fixed(validationKL))) nats/image, "
            + "\(activeDimensions) active dims, \(fixed(seconds))s, \(Int(imagesPerSecond)) img/s"
            + (gflops.map { ", \(fixed($0)) GFLOP/s" } ?? "")
    }
}

extension VAEModel {
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// See `VAEConfig.trainingFlopsPerImage`.
    public var trainingFlopsPerImage: Double { config.trainingFlopsPerImage }
}

/// Fixed one-decimal (or two for small numbers) formatting without Foundation.
public func fixed(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    let digits = abs(value) < 10 ? 2 : 1
    let scale = digits == 2 ? 100.0 : 10.0
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale), fraction = Int(scaled) - whole * Int(scale)
    let fractionText = digits == 2 && fraction < 10 ? "0\(fraction)" : "\(fraction)"
    return (value < 0 ? "-" : "") + "\(whole).\(fractionText)"
}
