import ArgumentParser
import Codec
import NeuralNet
import Foundation
import ImageFilters
import ImageIO

struct DenoiseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denoise",
        abstract: "Remove Gaussian noise from PNG/JPEG images with the VAE as a learned prior.",
        discussion: """
            The latent is fitted to the image by MAP (the decoder's likelihood plus the prior, from the encoder's \
            mean), the decoder's picture is blended with the image by their variances, and that blend (or an even \
            mix of it with a blur, whichever Stein's unbiased risk estimate prefers) pilots a Wiener filter in \
            sliding 8x8 DCT blocks. Of a family, the global-latent members serve as priors; the grid ones are for \
            compression (unless only grid models are given). Without --sigma the noise level is estimated from the image \
            (median absolute Haar detail / 0.6745) and printed. The output is INPUT.denoised.EXT beside each \
            input unless -o is given; existing files are kept unless --force. An image the model cannot draw \
            (say, not a face for the face model) gets a warning: the result would be the model's guess.
            """)

    @Argument(help: "PNG or JPEG images ('-' reads stdin).")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output .png or .jpg (one input only; '-' writes stdout).")
    var output: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Noise standard deviation in 8-bit units, or auto.")
    var sigma = "auto"

    @Option(help: "Write a per-pixel uncertainty map (standard deviation, scaled) to this PNG (one input only).")
    var uncertainty: String?

    @Option(help: "JPEG quality for .jpg outputs.")
    var jpegQuality = 95

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if (output != nil || uncertainty != nil) && inputs.count > 1 { throw ValidationError("-o and --uncertainty take one input only") }
        if sigma != "auto", !(Double(sigma).map { $0 >= 0 && $0 < 256 } ?? false) { throw ValidationError("--sigma must be auto or a number in 0...255") }
        if !(1...100).contains(jpegQuality) { throw ValidationError("--jpeg-quality must be in 1...100") }
        if let output, output != Files.standardStream, ImageFormat(pathExtension: output) == nil {
            throw ValidationError("-o must end in .png, .jpg or .jpeg")
        }
    }

    func run() throws {
        let models = try modelOptions.candidates()
        try forEachInput(inputs) { input in
            let decoded = try ImageCodec.read(input)
            let target = output ?? OutputPath.beside(input, suffix: ".denoised." + decoded.format.fileExtension)
            for path in [target] + (uncertainty.map { [$0] } ?? []) where !force && path != Files.standardStream && Files.exists(path) {
                throw ImageError(file: path, problem: "already exists (use --force to overwrite)")
            }
            let toStdout = target == Files.standardStream || uncertainty == Files.standardStream
            let image = decoded.image.gray()
            let estimated = sigma == "auto"
            let noise = estimated ? NoiseEstimator.sigma(image) : Double(sigma)!
            let sigma = max(noise, 0.5)
            // The model whose encoder guess fits best runs the MAP steps: one optimisation however many candidates.
            let (denoiser, fit) = BLAS.withThreads(Denoiser.singleImageBLASThreads) {
                let denoiser = Denoiser(model: Denoiser.bestPrior(among: models, for: [image], sigmas: [sigma], steps: 0))
                return (denoiser, denoiser.fit([image], sigmas: [sigma])[0])
            }
            // Out of domain the prior would paint its own kind of picture: a blur pilots the Wiener filter instead.
            let outOfDomain = fit.looksOutOfDomain
            let result = outOfDomain ? nil : denoiser.finish(image, sigma: sigma, fit: fit)
            let cleaned = result?.image ?? DCTWiener.blurPiloted(image, sigma: sigma)
            let format = ImageFormat(pathExtension: target) ?? decoded.format
            let bytes = format == .png ? try ImageCodec.encodePNG(cleaned.image())
                                       : try ImageCodec.encodeJPEG(cleaned.image(), quality: jpegQuality)
            if let uncertainty {
                let map = denoiser.uncertainty(image, sigma: sigma, fit: fit)
                let peak = map.pixels.max() ?? 0
                let scale = peak > 0 ? min(16, 255 / peak) : 1
                let scaled = GrayImage(width: map.width, height: map.height, pixels: map.pixels.map { $0 * scale })
                let note = "gray level g = standard deviation g / \(decimal(Double(scale), 4)) in 8-bit units"
                try Files.writeAtomically(try ImageCodec.encodePNG(scaled.image(), text: (key: "vaecodec-uncertainty", value: note)),
                                          to: uncertainty, overwrite: force)
                Terminal.info("\(uncertainty): uncertainty map, \(note) (peak \(decimal(Double(peak), 1)))", quiet: common.quiet || toStdout)
            }
            try Files.writeAtomically(bytes, to: target, overwrite: force)
            if outOfDomain {
                Terminal.error("warning: \(input): this image does not look like what model \(denoiser.model.name) was trained on "
                               + "(fit ratio \(decimal(fit.fitRatio, 1)), latent mean square \(decimal(fit.latentMeanSquare, 1)); "
                               + "both about 1 in its domain): denoised without the VAE prior (blur-piloted Wiener filter)")
            }
            Terminal.info("\(input) -> \(target): noise sigma \(decimal(noise, 1)) (\(estimated ? "estimated" : "given")), "
                          + "model \(denoiser.model.name), fit ratio \(decimal(fit.fitRatio, 2)), latent mean square \(decimal(fit.latentMeanSquare, 2))"
                          + (result.map { ", prior's share of the Wiener pilot \(decimal(Double($0.priorWeight), 2))" } ?? ""),
                          quiet: common.quiet || toStdout)
        }
    }
}
