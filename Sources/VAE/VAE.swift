import SIMDSupport
import Foundation

/// Everything that fixes a model's architecture. Stored as JSON in every model file's
/// metadata, so a file alone rebuilds its network.
public struct VAEConfig: Codable, Equatable, Sendable {
    public enum Architecture: String, Codable, Sendable {
        /// Kingma & Welling's MLP: pixels → hidden widths → (μ, log σ²); decoder mirrors.
        case mlp
        /// Fixed stride-2 4×4 convolution stack to a 4×4 map, then dense layers to and from a global latent vector;
        /// see `VAEModel` for the exact layers.
        case conv
        /// Fully convolutional, no dense layer: the latent is a (canvas/8)² grid of vectors, each describing its
        /// own 8×8 patch and its surroundings, so the decoder's detail grows with the rate instead of saturating.
        case spatial
    }

    public enum Activation: String, Codable, Sendable {
        case relu
        case leakyRelu  // slope 0.01
    }

    public enum GaussianVariance: Equatable, Sendable {
        case fixed(logVariance: Float)
        /// One learned log σ² shared by all pixels.
        case learnedGlobal
        /// One learned log σ² per pixel.
        case learnedPerPixel
    }

    public enum Likelihood: Equatable, Sendable {
        /// p(x|z) = Π Bernoulli(x_i; sigmoid(o_i)), x in [0,1] treated as a probability target.
        case bernoulli
        /// p(x|z) = Π N(x_i; sigmoid(o_i), σ_i²).
        case gaussian(GaussianVariance)
    }

    public var arch: Architecture
    /// Side of the square image in pixels.
    public var canvas: Int
    public var latent: Int
    /// mlp: hidden layer widths from the input side. conv, spatial: [base channel count c].
    public var hidden: [Int]
    public var likelihood: Likelihood
    public var activation: Activation

    public init(arch: Architecture = .mlp, canvas: Int = 28, latent: Int = 20, hidden: [Int] = [400],
                likelihood: Likelihood = .bernoulli, activation: Activation = .relu) {
        (self.arch, self.canvas, self.latent, self.hidden, self.likelihood, self.activation) =
            (arch, canvas, latent, hidden, likelihood, activation)
    }

    /// The conv model of the spec: canvas 64, latent 128, c = 32.
    public static func conv(canvas: Int = 64, latent: Int = 128, baseChannels: Int = 32,
                            likelihood: Likelihood = .bernoulli) -> VAEConfig {
        VAEConfig(arch: .conv, canvas: canvas, latent: latent, hidden: [baseChannels], likelihood: likelihood)
    }

    public var pixels: Int { canvas * canvas }

    /// Learned log σ² values are clamped to this range (zero gradient outside): pixels that are
    /// always 0 (MNIST borders) would otherwise drive σ → 0 and the likelihood to +∞.
    public static let logVarianceRange: ClosedRange<Float> = -9.2...4  // σ from 0.01 to e²

    /// conv: the number of stride-2 stages S, with canvas = 4·2^S (S ≥ 1). Other canvases are
    /// rejected (pad 28×28 MNIST to 32).
    public var convStages: Int? {
        guard canvas >= 8, canvas % 4 == 0 else { return nil }
        let ratio = canvas / 4
        guard ratio & (ratio - 1) == 0 else { return nil }
        return ratio.trailingZeroBitCount
    }

    /// spatial: the side of the latent grid (three stride-2 stages).
    public var spatialGrid: Int { canvas / 8 }

    /// spatial: latent channels per grid position.
    public var latentChannels: Int { latent / max(1, spatialGrid * spatialGrid) }

    public func validate() throws {
        func fail(_ message: String) -> VAEConfigError { VAEConfigError(description: "invalid VAE config: " + message) }
        guard (1...4096).contains(canvas) else { throw fail("canvas \(canvas) outside 1...4096") }
        guard (1...65536).contains(latent) else { throw fail("latent \(latent) outside 1...65536") }
        guard hidden.allSatisfy({ (1...65536).contains($0) }) else { throw fail("hidden widths \(hidden) must be in 1...65536") }
        try validateArchitecture(fail)
        if case .gaussian(.fixed(let logVariance)) = likelihood, !logVariance.isFinite {
            throw fail("fixed log variance must be finite")
        }
    }

    private enum CodingKeys: String, CodingKey { case arch, canvas, latent, hidden, likelihood, activation }
}

public struct VAEConfigError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public var errorDescription: String? { description }
}

/// JSON: {"kind":"bernoulli"} or {"kind":"gaussian","variance":"fixed"|"learnedGlobal"|"learnedPerPixel","logVariance":x}.
extension VAEConfig.Likelihood: Codable {
    private enum CodingKeys: String, CodingKey { case kind, variance, logVariance }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .kind) {
        case "bernoulli":
            self = .bernoulli
        case "gaussian":
            switch try c.decode(String.self, forKey: .variance) {
            case "fixed": self = .gaussian(.fixed(logVariance: try c.decode(Float.self, forKey: .logVariance)))
            case "learnedGlobal": self = .gaussian(.learnedGlobal)
            case "learnedPerPixel": self = .gaussian(.learnedPerPixel)
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .variance, in: c, debugDescription: "unknown variance mode \(other)")
            }
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "unknown likelihood \(other)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .bernoulli:
            try c.encode("bernoulli", forKey: .kind)
        case .gaussian(let variance):
            try c.encode("gaussian", forKey: .kind)
            switch variance {
            case .fixed(let logVariance):
                try c.encode("fixed", forKey: .variance)
                try c.encode(logVariance, forKey: .logVariance)
            case .learnedGlobal: try c.encode("learnedGlobal", forKey: .variance)
            case .learnedPerPixel: try c.encode("learnedPerPixel", forKey: .variance)
            }
        }
    }
}

/// Per-image averages in nats. `negativeELBO` = reconstruction + KL (the bound itself);
/// the training objective weights KL by β.
public struct LossParts: Equatable, Sendable {
    public var reconstruction: Double
    public var kl: Double
    public var negativeELBO: Double { reconstruction + kl }

    public init(reconstruction: Double, kl: Double) {
        self.reconstruction = reconstruction
        self.kl = kl
    }
}
