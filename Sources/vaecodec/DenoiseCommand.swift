import ArgumentParser
import Foundation
import VAECodecKit

struct DenoiseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denoise",
        abstract: "Remove Gaussian noise from PNG/JPEG images with the VAE as a learned prior.",
        discussion: """
            The latent is fitted to the image by MAP (the decoder's likelihood plus the prior, from the encoder's \
            mean), the decoder's picture is blended with the image by their variances, and that blend (or an even \
            mix of it with a blur, whichever Stein's unbiased risk estimate prefers; a quarter of it for noise saved \
            as JPEG, which SURE misjudges) pilots a Wiener filter in \
            sliding 8x8 DCT blocks. Of a family, the global-latent member with the best held-out ELBO serves as the prior (the grid \
            ones are for compression); with --model auto each image takes the family that explains it best. Without --sigma the noise level is estimated from the image \
            (median absolute Haar detail / 0.6745, or the spread of the noise over a background clipped at black or white, \
            whichever is larger) and printed. The output is INPUT.denoised.EXT beside each \
            input unless -o is given; existing files are kept unless --force. An image the model cannot draw \
            (say, not a face for the face model) gets a warning and the same Wiener filter piloted by a blur, not by the model's guess.
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
        let codec = try modelOptions.codec()
        try forEachGroup(inputs, size: 128, weight: { $0.image.pixels.count }, progress: "denoise", quiet: common.quiet) { input in
            let decoded = try ImageCodec.read(input, maxPixels: Denoiser.maxPixels)
            let target = output ?? OutputPath.beside(input, suffix: ".denoised." + decoded.format.fileExtension)
            for path in [target] + (uncertainty.map { [$0] } ?? []) where !force && path != Files.standardStream && Files.exists(path) {
                throw ImageError(file: path, problem: "already exists (use --force to overwrite)")
            }
            return (input: input, target: target, format: ImageFormat(pathExtension: target) ?? decoded.format, image: decoded.image.gray())
        } process: { ready in
            try codec.denoise(ready.map(\.image), sigmas: ready.map { _ in Double(sigma) }, model: modelOptions.model)
        } finish: { item, denoised in
            try write(item, denoised)
        }
    }

    func write(_ item: (input: String, target: String, format: ImageFormat, image: GrayImage), _ denoised: VAECodec.Denoised) throws {
        let (outcome, noise) = (denoised.outcome, denoised.sigma)
        let (fit, model) = (outcome.fit, outcome.model)
        let toStdout = item.target == Files.standardStream || uncertainty == Files.standardStream
        let bytes = item.format == .png ? try ImageCodec.encodePNG(outcome.image.image())
                                        : try ImageCodec.encodeJPEG(outcome.image.image(), quality: jpegQuality)
        if let uncertainty {
            let map = denoised.uncertainty(of: item.image)
            let peak = map.pixels.max() ?? 0
            let scale = peak > 0 ? min(16, 255 / peak) : 1
            let scaled = GrayImage(width: map.width, height: map.height, pixels: map.pixels.map { $0 * scale })
            let note = "gray level g = standard deviation g / \(decimal(Double(scale), 4)) in 8-bit units"
            try Files.writeAtomically(try ImageCodec.encodePNG(scaled.image(), text: (key: "vaecodec-uncertainty", value: note)),
                                      to: uncertainty, overwrite: force)
            Terminal.info("\(uncertainty): uncertainty map, \(note) (peak \(decimal(Double(peak), 1)))", quiet: common.quiet || toStdout)
        }
        try Files.writeAtomically(bytes, to: item.target, overwrite: force)
        if outcome.outOfDomain {
            Terminal.error("warning: \(item.input): this image does not look like what model \(model.name) was trained on "
                           + "(fit ratio \(decimal(fit.fitRatio, 1)), latent mean square \(decimal(fit.latentMeanSquare, 1)); "
                           + "both about 1 in its domain): denoised without the VAE prior (blur-piloted Wiener filter)")
        }
        Terminal.info("\(item.input) -> \(item.target): noise sigma \(decimal(noise, 1)) (\(sigma == "auto" ? "estimated" : "given")), "
                      + "model \(model.name), fit ratio \(decimal(fit.fitRatio, 2)), latent mean square \(decimal(fit.latentMeanSquare, 2))"
                      + (outcome.result.map { ", prior's share of the Wiener pilot \(decimal(Double($0.priorWeight), 2))" } ?? ""),
                      quiet: common.quiet || toStdout)
    }
}
