import ArgumentParser
import VAECodecKit
import Evaluation

/// Shared by `manifold` and `sample`: which model, where the PNG goes.
struct PictureOptions: ParsableArguments {
    @Option(help: "faces, digits (the family's first member), a member such as faces-xs, or a model file.")
    var model = "faces"

    @Option(name: .shortAndLong, help: "Output PNG.")
    var output: String

    @Flag(help: "Overwrite an existing output file.")
    var force = false

    func validate() throws {
        if ImageFormat(pathExtension: output) != .png { throw ValidationError("-o must name a .png file") }
    }

    /// Decoded means as a grid of tiles, `columns` wide, 1 pixel apart.
    func write(_ decoded: Tensor, columns: Int, side: Int, title: String, quiet: Bool) throws {
        let count = decoded.batchSize, rows = (count + columns - 1) / columns
        var picture = Picture(width: columns * (side + 1) + 1, height: rows * (side + 1) + 1 + 12)
        picture.text(title, x: 2, y: 2)
        for i in 0..<count {
            let pixels = decoded.data[(i * side * side)..<((i + 1) * side * side)].map { $0 * 255 }
            picture.paste(GrayImage(width: side, height: side, pixels: Array(pixels)), x: 1 + (i % columns) * (side + 1), y: 13 + (i / columns) * (side + 1))
        }
        try Files.writeAtomically(try picture.png(), to: output, overwrite: force)
        Terminal.info("wrote \(output): \(title)", quiet: quiet)
    }
}

struct ManifoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifold",
        abstract: "Decode a regular grid over the model's two most informative latent dimensions.",
        discussion: """
            The two dimensions with the largest mean KL on the training data (the codec's widest quantization \
            ranges) sweep the prior's quantiles 5%...95% (Gaussian inverse CDF, as in Kingma & Welling's figure); \
            every other dimension stays at the prior mean, 0.
            """)

    @OptionGroup var picture: PictureOptions

    @Option(help: "Grid points per axis.")
    var steps = 12

    @OptionGroup var common: CommonOptions

    func validate() throws { if !(2...40).contains(steps) { throw ValidationError("--steps must be in 2...40") } }

    func run() throws {
        let model = try ModelRegistry.shipped().load(picture.model)[0]
        let k = model.vae.config.latent
        // The rung-0 steps are proportional to each dimension's posterior sigma; the widest symbol range marks
        // the dimensions that carry the most information.
        let rung = model.ladder.rungs[0]
        let spread = rung.tables.enumerated().map { i, table in (Double(table.escapeSymbol) * Double(rung.quantizer.steps[i]), rung.quantizer.transmitted[i]) }
        let top = spread.sorted { $0.0 > $1.0 }.prefix(2).map(\.1)
        let (a, b) = (top.first ?? 0, top.count > 1 ? top[1] : min(1, k - 1))
        var z = [Float](repeating: 0, count: steps * steps * k)
        for row in 0..<steps {
            for column in 0..<steps {
                let i = row * steps + column
                z[i * k + a] = Float(inverseNormal(0.05 + 0.9 * Double(column) / Double(steps - 1)))
                z[i * k + b] = Float(inverseNormal(0.95 - 0.9 * Double(row) / Double(steps - 1)))
            }
        }
        let decoded = model.vae.decode(Tensor(shape: [steps * steps, k], data: z))
        try picture.write(decoded, columns: steps, side: model.canvas,
                          title: "\(model.name): z\(a) across, z\(b) down", quiet: common.quiet)
    }

    /// Acklam's rational approximation of the standard normal quantile (relative error below 1.2e-9).
    func inverseNormal(_ p: Double) -> Double {
        let a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239]
        let b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
        let c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
        let d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
        func tail(_ q: Double) -> Double {
            (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p < 0.02425 { return tail((-2 * log(p)).squareRoot()) }
        if p > 1 - 0.02425 { return -tail((-2 * log(1 - p)).squareRoot()) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Decode random draws from the prior, z ~ N(0, I): what the model thinks its images look like.")

    @OptionGroup var picture: PictureOptions

    @Option(name: .short, help: "How many samples.")
    var n = 64

    @Option(help: "Seed of the draws.")
    var seed: UInt64 = 1

    @OptionGroup var common: CommonOptions

    func validate() throws { if !(1...1024).contains(n) { throw ValidationError("-n must be in 1...1024") } }

    func run() throws {
        let model = try ModelRegistry.shipped().load(picture.model)[0]
        var rng = Xoshiro256StarStar(seed: seed)
        let decoded = model.vae.decode(rng.normalTensor(shape: [n, model.vae.config.latent]))
        let columns = Int(Double(n).squareRoot().rounded(.up))
        try picture.write(decoded, columns: columns, side: model.canvas, title: "\(model.name): \(n) prior samples, seed \(seed)", quiet: common.quiet)
    }
}

#if canImport(Glibc)
import Glibc
#endif
