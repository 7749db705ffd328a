import VAECodecKit
import Foundation
import ImageFilters

/// The denoising study: held-out canvases with seeded Gaussian noise (clipped to 0...255 and rounded, as a
/// saved image would be), the classical methods, and the VAE variants, each with PSNR, SSIM and time.
/// The last VAE row is what `vaecodec denoise` makes (`Denoiser.denoise` over `priors`: each image's prior chosen, and
/// the classical fallback for an image out of domain); the rows before it are its stages, under `model` alone.
public struct DenoiseBench {
    /// The prior of the ablation rows.
    public var model: Prior
    /// The priors the command chooses among.
    public var priors: [Prior]
    public var images: [GrayImage]
    public var noiseLevels: [Double]
    /// Qualities of the saved-noisy study (`runJPEG`): each level's noisy images saved as JPEG, as a `noisy.jpg` arrives.
    public var jpegQualities: [Int]
    public var seed: UInt64

    public init(model: Prior, priors: [Prior], images: [GrayImage], noiseLevels: [Double] = [15, 25, 50],
                jpegQualities: [Int] = [90, 75], seed: UInt64 = 1) {
        (self.model, self.priors, self.images, self.noiseLevels, self.jpegQualities, self.seed) =
            (model, priors, images, noiseLevels, jpegQualities, seed)
    }

    public struct Row: Sendable {
        public var sigma: Double, method: String, image: Int, psnr: Double, ssim: Double, seconds: Double
    }

    public static let methods = ["noisy", "gaussian blur", "median 3x3", "non-local means", "Wiener, blur pilot",
                                 "VAE encoder-decoder", "VAE MAP", "VAE MAP + blend", "VAE MAP + blend + Wiener",
                                 "the same, sigma estimated"]
    static let blurSigmas = [0.5, 0.7, 0.9, 1.1, 1.3, 1.6, 2.0, 2.5]

    public static func addNoise(_ image: GrayImage, sigma: Double, rng: inout Xoshiro256StarStar) -> GrayImage {
        let noise = rng.normalTensor(shape: [image.pixels.count]).data
        return GrayImage(width: image.width, height: image.height,
                         pixels: zip(image.pixels, noise).map { min(max(($0 + Float(sigma) * $1).rounded(), 0), 255) })
    }

    /// The study's noisy inputs at one level: the same seeded draw every run.
    public func noisyImages(sigma: Double) -> [GrayImage] {
        var rng = Xoshiro256StarStar(seed: seed &+ UInt64(sigma * 1000))
        return images.map { Self.addNoise($0, sigma: sigma, rng: &rng) }
    }

    /// An output as a saved image holds it: rounded to 8 bits and clipped to 0...255. The study scores that.
    static func saved(_ output: GrayImage) -> GrayImage {
        GrayImage(width: output.width, height: output.height, pixels: output.bytes().map(Float.init))
    }

    /// The noisy inputs at one level saved as JPEG at `quality` (libjpeg-turbo with optimised tables, as `vaecodec`
    /// writes) and decoded: the Gaussian noise partly quantised away, block artefacts added.
    public func noisyJPEGs(sigma: Double, quality: Int) throws -> [GrayImage] {
        try noisyImages(sigma: sigma).map {
            try ImageCodec.decode(ImageCodec.encodeJPEG($0.image(), quality: quality), name: "noisy.jpg").image.gray()
        }
    }

    public struct JPEGRow: Sendable {
        public var sigma: Double, quality: Int, method: String, image: Int, psnr: Double, ssim: Double
        /// The noise deviation the method was given or estimated (0 for the input).
        public var sigmaUsed: Double
        /// Whether `vaecodec denoise` judged the image out of its prior's domain and used the classical filter.
        public var outOfDomain = false
    }

    public static let jpegMethods = ["noisy JPEG", "Wiener, blur pilot (sigma estimated)", "vaecodec denoise (sigma estimated)",
                                     "vaecodec denoise --sigma (the noise before JPEG)"]

    /// Rows per (noise level, JPEG quality, method, image) of the saved-noisy study. The VAE rows are what
    /// `vaecodec denoise` makes of the decoded JPEG: with the noise level estimated from it (the default) and with the
    /// Gaussian's deviation given. The noise is no longer white Gaussian, so neither is the model's assumption.
    public func runJPEG(progress: (Int) -> Void) throws -> [JPEGRow] {
        var rows: [JPEGRow] = []
        var done = 0
        for sigma in noiseLevels {
            for quality in jpegQualities {
                let inputs = try noisyJPEGs(sigma: sigma, quality: quality)
                let estimated = inputs.map(NoiseEstimator.sigma)
                func record(_ method: String, _ outputs: [GrayImage], _ sigmas: [Double], outOfDomain: [Bool]? = nil) {
                    for (i, output) in outputs.enumerated() {
                        let rounded = Self.saved(output)
                        rows.append(JPEGRow(sigma: sigma, quality: quality, method: method, image: i, psnr: Metrics.psnr(images[i], rounded),
                                            ssim: Metrics.ssim(images[i], rounded), sigmaUsed: sigmas[i], outOfDomain: outOfDomain?[i] ?? false))
                    }
                }
                func command(_ method: String, _ sigmas: [Double]) {
                    let outcomes = Denoiser.denoise(inputs, sigmas: sigmas, models: priors)
                    record(method, outcomes.map(\.image), sigmas, outOfDomain: outcomes.map(\.outOfDomain))
                }
                record(Self.jpegMethods[0], inputs, inputs.map { _ in 0 })
                record(Self.jpegMethods[1], zip(inputs, estimated).map { DCTWiener.blurPiloted($0, sigma: max($1, Denoiser.minimumSigma)) }, estimated)
                command(Self.jpegMethods[2], estimated)
                command(Self.jpegMethods[3], inputs.map { _ in sigma })
                done += 1
                progress(done)
            }
        }
        return rows
    }

    /// The saved-noisy study's section of denoise.md: mean PSNR per (level, quality) and method, the mean sigma each
    /// VAE row used, how many images came out below their input, and how many got the classical filter.
    public static func jpegMarkdown(_ rows: [JPEGRow]) -> String {
        guard !rows.isEmpty else { return "" }
        var md = "\n## Noisy images saved as JPEG\n\nThe same noisy images, saved as JPEG at each quality (libjpeg-turbo, "
            + "optimised tables) and decoded, as a `noisy.jpg` arrives: PSNR (dB) against the clean image, averaged over images. "
            + "`sigma estimated` is the command's default (`--sigma auto`: `NoiseEstimator` on the decoded JPEG); `--sigma` "
            + "gives the Gaussian's deviation before JPEG. BM3D given its best sigma on the same inputs: "
            + "`Benchmarks/reference/bm3d_reference.py` on the exported `noisy-SIGMA-qQUALITY.u8`.\n\n"
        md += "| sigma | JPEG quality | " + jpegMethods.map { "\($0) PSNR" }.joined(separator: " | ")
            + " | sigma estimated (mean) | below the input: estimated / given | classical fallback: estimated / given |\n|"
            + String(repeating: "---|", count: jpegMethods.count + 5) + "\n"
        let keys = Set(rows.map { [Int($0.sigma), $0.quality] }).sorted { ($0[0], -$0[1]) < ($1[0], -$1[1]) }
        for key in keys {
            let level = rows.filter { Int($0.sigma) == key[0] && $0.quality == key[1] }
            func of(_ method: String) -> [JPEGRow] { level.filter { $0.method == method }.sorted { $0.image < $1.image } }
            func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }
            let input = of(jpegMethods[0])
            func below(_ method: String) -> Int { zip(of(method), input).filter { $0.psnr < $1.psnr }.count }
            func fallbacks(_ method: String) -> Int { of(method).filter(\.outOfDomain).count }
            md += "| \(key[0]) | \(key[1]) | " + jpegMethods.map { format(mean(of($0).map(\.psnr)), 2) }.joined(separator: " | ")
                + " | \(format(mean(of(jpegMethods[2]).map(\.sigmaUsed)), 1)) | \(below(jpegMethods[2])) / \(below(jpegMethods[3])) of \(input.count)"
                + " | \(fallbacks(jpegMethods[2])) / \(fallbacks(jpegMethods[3])) |\n"
        }
        return md
    }

    public static func jpegCSV(_ rows: [JPEGRow]) -> String {
        "sigma,jpeg_quality,method,image,psnr_db,ssim,sigma_used\n" + rows.map {
            "\(Int($0.sigma)),\($0.quality),\"\($0.method)\",\($0.image),\(format($0.psnr, 3)),\(format($0.ssim, 4)),\(format($0.sigmaUsed, 2))"
        }.joined(separator: "\n") + "\n"
    }

    /// Rows per (noise level, method, image); `examples` keeps image 0..<8's outputs at each level for a grid.
    /// `counts` says, per level, how many held-out images the denoiser would call out of domain (false alarms) and
    /// for how many SURE chose the blend alone as the Wiener pilot.
    public func run(progress: (Int) -> Void) -> (rows: [Row], examples: [Double: [String: [GrayImage]]], counts: [Double: LevelCounts]) {
        var rows: [Row] = []
        var counts: [Double: LevelCounts] = [:]
        var examples: [Double: [String: [GrayImage]]] = [:]
        var denoiser = Denoiser(model: model)
        denoiser.decodesEncoderGuess = true
        var done = 0
        for sigma in noiseLevels {
            let noisy = noisyImages(sigma: sigma)
            /// Appends the outputs' rows and returns their PSNRs.
            @discardableResult func record(_ method: String, _ outputs: [GrayImage], seconds: Double) -> [Double] {
                outputs.enumerated().map { i, output in
                    let rounded = Self.saved(output)
                    rows.append(Row(sigma: sigma, method: method, image: i, psnr: Metrics.psnr(images[i], rounded),
                                    ssim: Metrics.ssim(images[i], rounded), seconds: seconds / Double(outputs.count)))
                    if i < 8 { examples[sigma, default: [:]][method, default: []].append(rounded) }
                    return rows.last!.psnr
                }
            }
            func timed<T>(_ body: () -> T) -> (T, Double) {
                let start = MonotonicClock.seconds()
                let out = body()
                return (out, MonotonicClock.seconds() - start)
            }
            let noisyPSNR = record("noisy", noisy, seconds: 0)
            // The blur's width is tuned per noise level on the first 20 images: its best case.
            let tuning = Array(0..<min(20, images.count))
            let bestBlur = Self.blurSigmas.max { a, b in
                func score(_ s: Double) -> Double {
                    tuning.reduce(0.0) { $0 + Metrics.psnr(images[$1], GaussianBlur.apply(noisy[$1], sigma: s)) }
                }
                return score(a) < score(b)
            }!
            let (blurred, blurTime) = timed { noisy.map { GaussianBlur.apply($0, sigma: bestBlur) } }
            record("gaussian blur", blurred, seconds: blurTime)
            let (medians, medianTime) = timed { noisy.map(ClassicalDenoisers.median3x3) }
            record("median 3x3", medians, seconds: medianTime)
            let (nlm, nlmTime) = timed { noisy.map { ClassicalDenoisers.nonLocalMeans($0, sigma: sigma) } }
            record("non-local means", nlm, seconds: nlmTime)
            // Ablation: the denoiser's own filter with no prior (its classical pilot alone).
            let (wienerBlur, wienerTime) = timed { noisy.map { DCTWiener.blurPiloted($0, sigma: sigma) } }
            record("Wiener, blur pilot", wienerBlur, seconds: wienerTime)
            // One batch through the network; the time per image is the batch's over its size.
            let start = MonotonicClock.seconds()
            let results = denoiser.denoise(noisy, sigmas: [Double](repeating: sigma, count: noisy.count))
            let vaeTime = MonotonicClock.seconds() - start
            record("VAE encoder-decoder", results.map { $0.encoderDecoderCanvas! }, seconds: vaeTime)
            record("VAE MAP", results.map(\.mapCanvas), seconds: vaeTime)
            record("VAE MAP + blend", results.map(\.blended), seconds: vaeTime)
            let (given, givenTime) = timed { Denoiser.denoise(noisy, sigmas: noisy.map { _ in sigma }, models: priors) }
            let givenPSNR = record("VAE MAP + blend + Wiener", given.map(\.image), seconds: givenTime)
            let (estimated, estimatedTime) = timed { Denoiser.denoise(noisy, sigmas: noisy.map(NoiseEstimator.sigma), models: priors) }
            let estimatedPSNR = record("the same, sigma estimated", estimated.map(\.image), seconds: estimatedTime)
            func belowInput(_ psnr: [Double]) -> Int { zip(psnr, noisyPSNR).filter { $0 < $1 }.count }
            counts[sigma] = LevelCounts(outOfDomain: results.filter(\.looksOutOfDomain).count,
                                        outOfDomainEstimated: estimated.filter(\.outOfDomain).count,
                                        belowInput: belowInput(givenPSNR), belowInputEstimated: belowInput(estimatedPSNR),
                                        blendPilotAlone: results.filter { $0.priorWeight == 1 }.count)
            done += 1
            progress(done)
        }
        return (rows, examples, counts)
    }

    /// Single-image latency of the full VAE method (what `vaecodec denoise` does per file), in seconds.
    public func singleImageSeconds(sigma: Double, count: Int = 10) -> Double {
        var rng = Xoshiro256StarStar(seed: seed)
        let noisy = images.prefix(count).map { Self.addNoise($0, sigma: sigma, rng: &rng) }
        let start = MonotonicClock.seconds()
        for image in noisy { _ = Denoiser.denoise([image], sigmas: [sigma], models: priors) }
        return (MonotonicClock.seconds() - start) / Double(max(1, noisy.count))
    }

    public static func markdown(rows: [Row], title: String, command: String, description: [String], singleImageSeconds: Double,
                                counts: [Double: LevelCounts] = [:]) -> String {
        var md = "# \(title)\n\n" + description.map { "- \($0)\n" }.joined() + "- Produced by: `\(command)`\n\n"
        md += "Gaussian noise of deviation sigma (8-bit units), clipped to 0...255 and rounded; PSNR (dB), SSIM and "
            + "time per image, averaged over images. The VAE rows before `VAE MAP + blend + Wiener` are the method's stages under "
            + "the model named above, from one batched run; that row is what `vaecodec denoise --sigma` makes (the family's "
            + "prior, its global member with the best held-out ELBO; the classical filter for an image out of domain), timed on "
            + "its own, and the last row what it makes without `--sigma`. "
            + "`vaecodec denoise` on one file takes "
            + "\(format(singleImageSeconds * 1000, 1)) ms per image (sigma 25).\n\n"
        let sigmas = Array(Set(rows.map(\.sigma))).sorted()
        md += "| method | " + sigmas.map { "sigma \(Int($0)) PSNR | SSIM" }.joined(separator: " | ") + " | ms/image |\n|---|"
            + sigmas.map { _ in "---|---|" }.joined() + "---|\n"
        for method in methods {
            var cells: [String] = []
            var seconds = 0.0
            for sigma in sigmas {
                let r = rows.filter { $0.method == method && $0.sigma == sigma }
                let n = Double(max(1, r.count))
                cells.append(format(r.reduce(0) { $0 + $1.psnr } / n, 2))
                cells.append(format(r.reduce(0) { $0 + $1.ssim } / n, 3))
                seconds += r.reduce(0) { $0 + $1.seconds } / n / Double(sigmas.count)
            }
            md += "| \(method) | " + cells.joined(separator: " | ") + " | \(format(seconds * 1000, 2)) |\n"
        }
        md += "\nThe ablation: `VAE encoder-decoder` skips the MAP optimisation; `VAE MAP` is the prior's picture alone; "
            + "`+ blend` adds back the observation where the noise is weaker than the model's own error; `+ Wiener` (the method "
            + "`vaecodec denoise` uses) filters the observation in sliding 8x8 DCT blocks, twice (the second pass with the first "
            + "one's output as its pilot), piloted by the blend or by an even mix of the blend and a Gaussian blur, whichever "
            + "Stein's unbiased risk estimate prefers for the image. `Wiener, blur pilot` is the same filter piloted by the blur "
            + "alone (width 0.6 + sigma/50, no prior): the difference between it and `VAE MAP + blend + Wiener` is the VAE's share of the result. `the same, sigma estimated` "
            + "is `vaecodec denoise` without `--sigma`: the noise level estimated from each image (`NoiseEstimator`) instead of given.\n"
        if !counts.isEmpty {
            let total = rows.filter { $0.method == "noisy" && $0.sigma == sigmas[0] }.count
            func list(_ value: (LevelCounts) -> Int) -> String {
                counts.sorted { $0.key < $1.key }.map { "\(value($0.value)) of \(total) at sigma \(Int($0.key))" }.joined(separator: ", ")
            }
            md += "\nThe blend alone piloted the Wiener filter (SURE's choice) for \(list(\.blendPilotAlone)); the even mix with the "
                + "blur for the rest.\n"
            md += "\nOut-of-domain false alarms (held-out images `vaecodec denoise` would refuse to trust the prior on): "
                + list(\.outOfDomain) + "; with the noise level estimated: " + list(\.outOfDomainEstimated) + ".\n"
            md += "\nImages `vaecodec denoise` left below their noisy input (PSNR): " + list(\.belowInput)
                + "; with the noise level estimated: " + list(\.belowInputEstimated) + ".\n"
        }
        return md
    }

    public struct LevelCounts: Sendable {
        public var outOfDomain: Int, outOfDomainEstimated: Int, belowInput: Int, belowInputEstimated: Int, blendPilotAlone: Int
    }

    public static func csv(_ rows: [Row]) -> String {
        "sigma,method,image,psnr_db,ssim,seconds\n" + rows.map {
            "\(Int($0.sigma)),\"\($0.method)\",\($0.image),\(format($0.psnr, 3)),\(format($0.ssim, 4)),\(format($0.seconds, 6))"
        }.joined(separator: "\n") + "\n"
    }

    /// Rows: clean, noisy, then each method, for the first images at one noise level.
    public static func grid(clean: [GrayImage], examples: [String: [GrayImage]], sigma: Double) -> Picture {
        let order = ["noisy", "gaussian blur", "non-local means", "Wiener, blur pilot", "VAE MAP", "VAE MAP + blend + Wiener"]
        let count = min(8, clean.count), side = clean.first?.width ?? 64, scale = max(1, 128 / side)
        let tile = side * scale, rowHeight = tile + 24, labelWidth = 150
        var picture = Picture(width: labelWidth + count * (tile + 8), height: (order.count + 1) * rowHeight + 24)
        picture.text("sigma \(Int(sigma))", x: 4, y: 4)
        for (r, name) in (["clean"] + order).enumerated() {
            let y = 20 + r * rowHeight
            picture.text(name, x: 4, y: y + tile / 2 - 4)
            for c in 0..<count {
                let image = r == 0 ? clean[c] : examples[name]?[c]
                guard let image else { continue }
                picture.paste(image, x: labelWidth + c * (tile + 8), y: y, scale: scale)
                if r > 0 { picture.text("\(format(Metrics.psnr(clean[c], image), 1))dB", x: labelWidth + c * (tile + 8), y: y + tile + 4) }
            }
        }
        return picture
    }
}
