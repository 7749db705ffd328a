import NeuralNet

/// One layer of a VAE's encoder or decoder, in PyTorch's nn.Sequential order (activations take an index too).
///
/// `VAEConfig.encoderLayers` and `decoderLayers` are the one description of each architecture: `VAEModel` builds
/// its network from them, and the parameter count, the FLOPs and the tensor shapes of docs/MODEL_FORMAT.md are
/// counted from them. Adding an architecture means a case of `VAEConfig.Architecture` and, in this file, its two
/// layer lists, its summary line and its checks (`validateArchitecture`).
public enum LayerSpec: Equatable, Sendable {
    /// nn.Linear(inputs, outputs).
    case linear(inputs: Int, outputs: Int, initialization: Initialization)
    /// nn.Conv2d, or nn.ConvTranspose2d when `transposed`, with a square kernel, on a square input `inputSide` wide.
    case convolution(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, inputSide: Int, transposed: Bool,
                     initialization: Initialization)
    /// The configured activation (ReLU or leaky ReLU).
    case activation
    /// nn.Flatten: [N, C, H, W] to [N, C·H·W].
    case flatten
    /// nn.Unflatten: [N, C·H·W] to [N] + shape.
    case reshape([Int])

    /// How a layer's weights start (`WeightInitialization`, named here so a spec can be compared).
    public enum Initialization: Equatable, Sendable {
        case he, xavier, uniformFanIn
        var scheme: WeightInitialization {
            switch self {
            case .he: .he
            case .xavier: .xavier
            case .uniformFanIn: .uniformFanIn
            }
        }
    }

    /// Weights and biases (Double: a hostile config must not overflow).
    public var parameterCount: Double {
        switch self {
        case .linear(let inputs, let outputs, _): return Double(inputs) * Double(outputs) + Double(outputs)
        case .convolution(let cin, let cout, let k, _, _, _, _, _): return Double(cin) * Double(cout) * Double(k * k) + Double(cout)
        case .activation, .flatten, .reshape: return 0
        }
    }

    /// The weight tensor's shape, as PyTorch stores it ([out, in]; Conv2d [out, in, k, k]; ConvTranspose2d [in, out, k, k]).
    public var weightShape: [Int]? {
        switch self {
        case .linear(let inputs, let outputs, _): return [outputs, inputs]
        case .convolution(let cin, let cout, let k, _, _, _, let transposed, _): return transposed ? [cin, cout, k, k] : [cout, cin, k, k]
        case .activation, .flatten, .reshape: return nil
        }
    }

    /// The side of a convolution's output.
    public var outputSide: Int? {
        guard case .convolution(_, _, let k, let s, let p, let side, let transposed, _) = self else { return nil }
        return transposed ? (side - 1) * s - 2 * p + k : (side + 2 * p - k) / s + 1
    }

    /// Multiply-adds × 2 of one image's forward pass: a Conv2d applies its kernel at each output position, a
    /// ConvTranspose2d at each input position.
    public var forwardFlops: Double {
        switch self {
        case .linear(let inputs, let outputs, _): return 2 * Double(inputs) * Double(outputs)
        case .convolution(let cin, let cout, let k, _, _, let side, let transposed, _):
            let positions = transposed ? side : outputSide!
            return 2 * Double(cin) * Double(cout) * Double(k * k) * Double(positions * positions)
        case .activation, .flatten, .reshape: return 0
        }
    }

    /// The network layer this spec describes, named "prefix.index".
    func layer(name: String, activation: VAEConfig.Activation, zeros: Bool, rng: inout Xoshiro256StarStar) -> Layer {
        switch self {
        case .linear(let inputs, let outputs, let initialization):
            return Linear(inputs, outputs, name: name, initialization: zeros ? .zeros : initialization.scheme, rng: &rng)
        case .convolution(let cin, let cout, let k, let s, let p, _, let transposed, let initialization):
            let scheme = zeros ? .zeros : initialization.scheme
            return transposed ? ConvTranspose2d(cin, cout, kernel: k, stride: s, padding: p, name: name, initialization: scheme, rng: &rng)
                              : Conv2d(cin, cout, kernel: k, stride: s, padding: p, name: name, initialization: scheme, rng: &rng)
        case .activation: return activation == .relu ? ReLU() : LeakyReLU(slope: 0.01)
        case .flatten: return Flatten()
        case .reshape(let shape): return Reshape(shape)
        }
    }
}

extension VAEConfig {
    /// The encoder, image to [μ | log σ²] (2·latent values per image).
    ///
    /// - mlp: [Linear(D→h₀), act, …, Linear(h_last→2·latent)].
    /// - conv, S = log2(canvas/4) stages, channels cᵢ = c·2ⁱ: S × [Conv2d(k4,s2,p1), act], Flatten, Linear(c_{S−1}·16 → 2·latent).
    /// - spatial, grid g = canvas/8, C = latent/g²: 3 × [Conv2d(k4,s2,p1), act] (c, 2c, 4c), Conv2d(4c → 2C, k3,s1,p1), Flatten;
    ///   the first C channels are μ, so latent index = channel·g² + row·g + column.
    public var encoderLayers: [LayerSpec] {
        func conv(_ cin: Int, _ cout: Int, side: Int, _ initialization: LayerSpec.Initialization = .he) -> LayerSpec {
            Self.halving(cin, cout, side: side, transposed: false, initialization)
        }
        switch arch {
        case .mlp:
            // PyTorch's nn.Linear default: measured on the paper's MNIST setup, He/Xavier learns faster in epoch 1
            // (120.3 vs 127.3 nats) but ends 0.8 nats worse after 10 epochs (106.5 vs 105.7).
            return Self.perceptron([pixels] + hidden + [2 * latent])
        case .conv:
            let channels = convChannels
            guard !channels.isEmpty else { return [] }  // an invalid canvas (`validate()` says why)
            var layers: [LayerSpec] = [], side = canvas, inChannels = 1
            for c in channels {
                layers += [conv(inChannels, c, side: side), .activation]
                (inChannels, side) = (c, side / 2)
            }
            return layers + [.flatten, .linear(inputs: channels.last! * 16, outputs: 2 * latent, initialization: .xavier)]
        case .spatial:
            let c = hidden[0]
            return [conv(1, c, side: canvas), .activation, conv(c, 2 * c, side: canvas / 2), .activation,
                    conv(2 * c, 4 * c, side: canvas / 4), .activation,
                    .convolution(inChannels: 4 * c, outChannels: 2 * latentChannels, kernel: 3, stride: 1, padding: 1, inputSide: spatialGrid,
                                 transposed: false, initialization: .xavier),
                    .flatten]
        }
    }

    /// The decoder, latent to one logit per pixel (the pixel mean is sigmoid(logit) under both likelihoods).
    ///
    /// - mlp: [Linear(latent→h_last), act, …, Linear(h₀→D)].
    /// - conv: Linear(latent → c_{S−1}·16), act, Unflatten to [c_{S−1},4,4], (S−1) × [ConvTranspose2d(k4,s2,p1), act],
    ///   ConvTranspose2d(c₀→1).
    /// - spatial: Unflatten to [C,g,g], ConvTranspose2d(C → 4c, k3,s1,p1), act, 2 × [ConvTranspose2d(k4,s2,p1), act] (2c, c),
    ///   ConvTranspose2d(c→1, k4,s2,p1).
    public var decoderLayers: [LayerSpec] {
        func up(_ cin: Int, _ cout: Int, side: Int, _ initialization: LayerSpec.Initialization = .he) -> LayerSpec {
            Self.halving(cin, cout, side: side, transposed: true, initialization)
        }
        switch arch {
        case .mlp:
            return Self.perceptron([latent] + hidden.reversed() + [pixels])
        case .conv:
            let channels = convChannels
            guard let top = channels.last else { return [] }  // an invalid canvas (`validate()` says why)
            var layers: [LayerSpec] = [.linear(inputs: latent, outputs: top * 16, initialization: .he), .activation, .reshape([top, 4, 4])]
            var side = 4
            for i in stride(from: channels.count - 1, to: 0, by: -1) {
                layers += [up(channels[i], channels[i - 1], side: side), .activation]
                side *= 2
            }
            return layers + [up(channels[0], 1, side: side, .xavier)]
        case .spatial:
            let c = hidden[0], g = spatialGrid
            return [.reshape([latentChannels, g, g]),
                    .convolution(inChannels: latentChannels, outChannels: 4 * c, kernel: 3, stride: 1, padding: 1, inputSide: g,
                                 transposed: true, initialization: .he), .activation,
                    up(4 * c, 2 * c, side: g), .activation, up(2 * c, c, side: 2 * g), .activation, up(c, 1, side: 4 * g, .xavier)]
        }
    }

    /// One line naming the network, for logs and reports.
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

    /// The architecture's own conditions on canvas, latent and hidden sizes (`validate()` checks the rest).
    func validateArchitecture(_ fail: (String) -> VAEConfigError) throws {
        switch arch {
        case .mlp:
            break
        case .conv:
            guard hidden.count == 1 else { throw fail("conv takes hidden = [base channels], got \(hidden)") }
            guard let stages = convStages else { throw fail("conv canvas must be 4·2^S (8, 16, 32, 64, 128…), got \(canvas)") }
            guard hidden[0] << (stages - 1) <= 65536 else { throw fail("conv channel count overflows") }
        case .spatial:
            guard hidden.count == 1 else { throw fail("spatial takes hidden = [base channels], got \(hidden)") }
            guard canvas % 8 == 0 else { throw fail("spatial canvas must be a multiple of 8, got \(canvas)") }
            let cells = spatialGrid * spatialGrid
            guard latent % cells == 0 else {
                throw fail("spatial latent \(latent) must be a multiple of the \(spatialGrid)x\(spatialGrid) grid (\(cells))")
            }
            guard hidden[0] <= 16384 else { throw fail("spatial channel count overflows") }
        }
    }

    /// The k4 s2 p1 convolution every architecture scales by: it halves the side (doubles it, transposed).
    static func halving(_ cin: Int, _ cout: Int, side: Int, transposed: Bool, _ initialization: LayerSpec.Initialization) -> LayerSpec {
        .convolution(inChannels: cin, outChannels: cout, kernel: 4, stride: 2, padding: 1, inputSide: side, transposed: transposed,
                     initialization: initialization)
    }

    /// Linear layers through `widths`, an activation between each two.
    static func perceptron(_ widths: [Int]) -> [LayerSpec] {
        (0..<(widths.count - 1)).flatMap { i -> [LayerSpec] in
            let layer = LayerSpec.linear(inputs: widths[i], outputs: widths[i + 1], initialization: .uniformFanIn)
            return i < widths.count - 2 ? [layer, .activation] : [layer]
        }
    }

    /// conv: the channel count of each stride-2 stage, c·2ⁱ.
    var convChannels: [Int] { (0..<(convStages ?? 0)).map { hidden[0] << $0 } }

    /// Weights and biases of the network this config describes, the learned likelihood variance included.
    public var parameterCount: Double {
        if arch == .conv && convStages == nil { return .infinity }
        var total = (encoderLayers + decoderLayers).reduce(0) { $0 + $1.parameterCount }
        switch likelihood {
        case .gaussian(.learnedGlobal): total += 1
        case .gaussian(.learnedPerPixel): total += Double(pixels)
        default: break
        }
        return total
    }

    /// Multiply-adds ×2 of decoding one image: the decoder's forward pass, what `decompress` computes per file (the
    /// entropy decoding and a hyperprior's integer h_s are not counted; they are a few thousand operations).
    public var decoderFlopsPerImage: Double { decoderLayers.map(\.forwardFlops).reduce(0, +) }

    /// Multiply-adds ×2 of one image's training step: each layer's forward product once, and backward twice
    /// (weight gradient and input gradient), except the first layer, which needs no input gradient.
    /// Elementwise work is not counted; this is the rate to compare with a plain sgemm.
    public var trainingFlopsPerImage: Double {
        let forward = (encoderLayers + decoderLayers).map(\.forwardFlops).filter { $0 > 0 }
        guard let first = forward.first else { return .infinity }
        return 3 * forward.reduce(0, +) - first
    }
}

extension VAEConfig {
    /// docs/MODEL_FORMAT.md's table of this config's layers: each layer's state_dict key, what it is, its weight
    /// shape and its parameter count (a test keeps the document's tables equal to this).
    public var layerTable: String {
        func describe(_ spec: LayerSpec) -> String {
            switch spec {
            case .linear(let inputs, let outputs, _): return "Linear(\(inputs), \(outputs))"
            case .convolution(let cin, let cout, let k, let s, let p, let side, let transposed, _):
                return "\(transposed ? "ConvTranspose2d" : "Conv2d")(\(cin), \(cout), k\(k), s\(s), p\(p)): \(side)x\(side) to \(spec.outputSide!)x\(spec.outputSide!)"
            case .activation: return activation == .relu ? "ReLU" : "LeakyReLU(0.01)"
            case .flatten: return "Flatten"
            case .reshape(let shape): return "Unflatten to \(shape)"
            }
        }
        var rows = ["| key | layer | weight | parameters |", "|---|---|---|---|"]
        for (prefix, specs) in [("encoder", encoderLayers), ("decoder", decoderLayers)] {
            for (i, spec) in specs.enumerated() {
                let shape = spec.weightShape.map { "`\($0)`" } ?? ""
                rows.append("| `\(prefix).\(i)` | \(describe(spec)) | \(shape) | \(spec.parameterCount > 0 ? "\(Int(spec.parameterCount))" : "") |")
            }
        }
        return rows.joined(separator: "\n") + "\n"
    }
}
