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

extension VAEConfig {
    public var summary: String {
        let likelihoodText: String = switch likelihood {
        case .bernoulli: "Bernoulli"
        case .gaussian(.fixed(let logVariance)): "Gaussian (fixed log-variance \(logVariance))"
        case .gaussian(.learnedGlobal): "Gaussian (learned global variance)"
        case .gaussian(.learnedPerPixel): "Gaussian (learned per-pixel variance)"
        }
        let body = switch arch {
        case .mlp: "mlp \(pixels)-\(hidden.map(String.init).joined(separator: "-"))-\(latent)"
        case .conv: "conv c=\(hidden[0]) latent \(latent)"
        case .spatial: "spatial c=\(hidden[0]) latent \(spatialGrid)x\(spatialGrid)x\(latentChannels)"
        }
        return "\(body) on \(canvas)x\(canvas), \(likelihoodText)"
    }
}

extension VAEConfig {
    /// Weights and biases of the network this config describes (Double: a hostile config must not overflow).
    public var parameterCount: Double {
        func linear(_ a: Int, _ b: Int) -> Double { Double(a) * Double(b) + Double(b) }
        var total = 0.0
        switch arch {
        case .mlp:
            let widths = [pixels] + hidden + [2 * latent], back = [latent] + hidden.reversed() + [pixels]
            for i in 0..<(widths.count - 1) { total += linear(widths[i], widths[i + 1]) }
            for i in 0..<(back.count - 1) { total += linear(back[i], back[i + 1]) }
        case .conv:
            guard let stages = convStages else { return .infinity }
            let c: [Double] = [1] + (0..<stages).map { Double(hidden[0]) * Double(1 << $0) }  // c[0] = 1 image channel
            let (z, top) = (Double(latent), c[stages])
            for i in 1...stages { total += c[i - 1] * c[i] * 16 + c[i] }                  // encoder Conv2d
            total += top * 16 * 2 * z + 2 * z                                              // encoder Linear
            total += z * top * 16 + top * 16                                               // decoder Linear
            for i in 1...stages { total += c[i] * c[i - 1] * 16 + c[i - 1] }              // decoder ConvTranspose2d
        case .spatial:
            for layer in spatialLayers { total += Double(layer.inChannels) * Double(layer.outChannels) * Double(layer.kernel * layer.kernel) + Double(layer.outChannels) }
        }
        switch likelihood {
        case .gaussian(.learnedGlobal): total += 1
        case .gaussian(.learnedPerPixel): total += Double(pixels)
        default: break
        }
        return total
    }
}

extension VAEConfig {
    /// The spatial architecture's weight layers in order (encoder, then decoder), with the number of positions
    /// each kernel is applied at (Conv2d: output positions; ConvTranspose2d: input positions).
    var spatialLayers: [(inChannels: Int, outChannels: Int, kernel: Int, positions: Int)] {
        let c = hidden[0], g = spatialGrid
        return [(1, c, 4, 16 * g * g), (c, 2 * c, 4, 4 * g * g), (2 * c, 4 * c, 4, g * g), (4 * c, 2 * latentChannels, 3, g * g),
                (latentChannels, 4 * c, 3, g * g), (4 * c, 2 * c, 4, g * g), (2 * c, c, 4, 4 * g * g), (c, 1, 4, 16 * g * g)]
    }
}

extension VAEModel {
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Multiply-adds ×2 of one image's training step: each layer's forward product once, and backward twice
    /// (weight gradient and input gradient), except the first layer, which needs no input gradient.
    /// Elementwise work is not counted; this is the rate to compare with a plain sgemm.
    public var trainingFlopsPerImage: Double {
        var forward: [Double] = []  // per weight layer, in encoder-then-decoder order
        switch config.arch {
        case .mlp:
            let widths = [config.pixels] + config.hidden + [2 * config.latent]
            let back = [config.latent] + config.hidden.reversed() + [config.pixels]
            for i in 0..<(widths.count - 1) { forward.append(2 * Double(widths[i] * widths[i + 1])) }
            for i in 0..<(back.count - 1) { forward.append(2 * Double(back[i] * back[i + 1])) }
        case .conv:
            let stages = config.convStages!
            let channels = (0..<stages).map { config.hidden[0] << $0 }
            var inChannels = 1, side = config.canvas
            for c in channels {  // Conv2d k4 s2: output side halves
                side /= 2
                forward.append(2 * Double(c * inChannels * 16 * side * side))
                inChannels = c
            }
            forward.append(2 * Double(channels[stages - 1] * 16 * 2 * config.latent))
            forward.append(2 * Double(config.latent * channels[stages - 1] * 16))
            side = 4
            for i in stride(from: stages - 1, through: 0, by: -1) {  // ConvTranspose2d k4 s2 on a side×side input
                forward.append(2 * Double((i > 0 ? channels[i - 1] : 1) * channels[i] * 16 * side * side))
                side *= 2
            }
        case .spatial:
            forward = config.spatialLayers.map { 2 * Double($0.inChannels * $0.outChannels * $0.kernel * $0.kernel * $0.positions) }
        }
        return 3 * forward.reduce(0, +) - forward[0]
    }
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
