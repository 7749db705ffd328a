import ArgumentParser
import VAECodecKit
import Evaluation
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Rate-distortion report: vaecodec's quality ladder against JPEG, PCA and PNG on held-out images.",
        discussion: """
            --data takes what `train` takes. The held-out images are MNIST's t10k set, or, for image folders \
            and IDX files, the validation people of the split the models were trained on (the limit, seed and \
            held-out share of their training record; --seed and --val-fraction for a model without one), so a \
            model is never measured on its training images. PCA is fitted on the other part. \
            Writes results.csv, report.md, rd-psnr.svg, rd-ssim.svg and grid.png into --out.
            """)

    @Option(help: "Images: an MNIST folder or IDX file, or a folder of PNG/JPEG images.")
    var data: String

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var encoderOptions: EncoderOptions

    @Option(help: "Also measure vaecodec at this effort on the same images, and report the BD-PSNR of --effort against it.")
    var compareEffort: Effort?

    @Option(help: "Also measure vaecodec with this model (a name or a model file) on the same images, and report the BD-PSNR of --model against it.")
    var compareModel: String?

    @Option(help: "Add codecs measured elsewhere on the same held-out images: a points.csv of Benchmarks/reference/compressai_reference.py (repeatable).")
    var reference: [String] = []

    @Option(help: "Side of the central square to keep, in source pixels (LFW faces: 110).")
    var crop: Int?

    @Option(help: "Held-out images to measure.")
    var limit = 300

    @Option(help: "Held-out images to pass over first: --skip 300 measures images the default report never sees, a slice to choose settings on.")
    var skip = 0

    @Option(help: "Share of the images held out (image folders and single IDX files), as in `train` (default: the models' training record, else 0.1).")
    var valFraction: Double?

    @Option(help: "Seed of the held-out split, as in `train` (default: the models' training record, else 1).")
    var seed: UInt64?

    @Option(name: .shortAndLong, help: "Folder for the report (created if missing).")
    var out = "bench-report"

    @Flag(help: "Add the denoising study: noise levels 15, 25, 50 (seeded), classical methods and the VAE variants.")
    var denoise = false

    @Option(help: "Noise levels of the denoising study, comma-separated (8-bit units).")
    var noise = "15,25,50"

    @Option(help: "JPEG qualities of the denoising study's saved-noisy part (its noisy images saved as JPEG, as a noisy.jpg arrives), comma-separated; 'none' skips it.")
    var jpegNoise = "90,75"

    @Flag(help: "Only the denoising study (implies --denoise).")
    var denoiseOnly = false

    @Flag(help: "Also write the denoising study's inputs to OUT/denoise-inputs/ (clean.u8, noisy-SIGMA.u8 and the saved-as-JPEG noisy-SIGMA-qQUALITY.u8: N x side x side bytes) for reference methods run elsewhere (Benchmarks/reference/bm3d_reference.py).")
    var exportNoisy = false

    @Flag(help: "Only write the held-out canvases (up to --limit) as OUT/held-out/NNNNN.png, for timing whole commands on them (Benchmarks/speed.py).")
    var exportHeldOut = false

    @Flag(help: "Replace existing report files.")
    var force = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        if skip < 0 { throw ValidationError("--skip must be at least 0") }
        if compareModel != nil && compareEffort != nil { throw ValidationError("--compare-model and --compare-effort: one comparison at a time") }
        if let crop, crop < 1 { throw ValidationError("--crop must be at least 1") }
        if let valFraction, !(0..<1).contains(valFraction) { throw ValidationError("--val-fraction must be in [0, 1)") }
        if noiseLevels == nil { throw ValidationError("--noise takes levels in 1...255, comma-separated") }
        if jpegQualities == nil { throw ValidationError("--jpeg-noise takes JPEG qualities in 1...100, comma-separated, or none") }
    }

    func run() throws {
        let reportFiles = denoiseOnly ? [] : ["results.csv", "report.md", "rd-psnr.svg", "rd-ssim.svg", "grid.png"]
        let files = exportHeldOut ? [] : reportFiles + (denoise || denoiseOnly ? ["denoise.md", "denoise.csv", "denoise-jpeg.csv", "denoise-grid.png"] : [])
        for file in files where !force && Files.exists(out + "/" + file) {
            throw ImageError(file: out + "/" + file, problem: "already exists (use --force to replace the report)")
        }
        let models = try modelOptions.codec().models.load(modelOptions.model)
        let side = models[0].canvas
        guard models.allSatisfy({ $0.canvas == side }) else { throw ValidationError("the models have different canvas sizes") }
        let compared = try compareModel.map { try modelOptions.codec($0).models.load($0) } ?? []
        let (spec, split) = try trainingSplit(of: models + compared, side: side)
        let (train, heldOut) = try loadSplit(spec, split)
        guard skip < heldOut.count else { throw ValidationError("--skip \(skip): there are only \(heldOut.count) held-out images") }
        let images = (skip..<min(skip + limit, heldOut.count)).map { i in
            GrayImage(width: side, height: side, pixels: heldOut.pixels[(i * side * side)..<((i + 1) * side * side)].map(Float.init))
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        if exportHeldOut {
            let folder = out + "/held-out"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (i, image) in images.enumerated() {
                let digits = String(i)
                try Files.writeAtomically(try ImageCodec.encodePNG(image.image()), to: folder + "/" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".png", overwrite: force)
            }
            Terminal.info("wrote \(images.count) held-out canvases to \(folder)/", quiet: common.quiet)
            return
        }
        let command = (["vaecodec"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let about = "\(images.count) held-out images\(skip > 0 ? " from number \(skip + 1) on" : "") (\(heldOut.source)), \(side)x\(side) canvas\(spec.crop.map { ", central \($0)x\($0) crop" } ?? "")"
            + "; split: seed \(split.seed), held-out share \(split.validationFraction)\(spec.limit.map { ", first \($0) images" } ?? "")"
        if denoise || denoiseOnly { try runDenoise(models: models, images: images, command: command, about: about) }
        if denoiseOnly { return }
        Terminal.info("bench: \(images.count) held-out images of \(heldOut.count), models \(models.map(\.name).joined(separator: ", ")); "
                      + "PCA fitted on \(min(train.count, 10000)) training images", quiet: common.quiet)
        let pca = PCABaseline(training: train)
        var bench = RateDistortionBench(models: models, pca: pca, images: images)
        bench.settings = encoderOptions.settings
        if let compareModel {
            bench.comparison = .init(label: "compared", models: compared, settings: bench.settings,
                                     description: "`--model \(modelOptions.model)` against `--compare-model \(compareModel)`")
        } else if let compareEffort {
            bench.comparison = .init(label: compareEffort.rawValue, models: models, settings: EncoderSettings(effort: compareEffort),
                                     description: "`--effort \(bench.settings.effort.rawValue)` against `--effort \(compareEffort.rawValue)`")
        }
        let references = try reference.flatMap { try bench.referenceRows(from: $0) }
        let progress = Progress("bench", total: bench.progressUnits, quiet: common.quiet)
        let (rows, timing) = try bench.run { progress.update($0, unit: "steps") }
        progress.finish()

        let report = RateDistortionReport(
            title: "vaecodec bench on \(data)", command: command,
            description: [about,
                          "models: " + models.map { "\($0.name) (\($0.vae.config.summary), decoder \(fixed($0.vae.config.decoderFlopsPerImage / 1e6)) MFLOP per image, id 0x\(String($0.modelID, radix: 16)))" }.joined(separator: "; ")],
            rows: rows + references, timing: timing, images: images, bench: bench)
        try report.write(to: out, overwrite: force)
        Terminal.info("wrote \(out)/report.md, results.csv, rd-psnr.svg, rd-ssim.svg, grid.png", quiet: common.quiet)
    }

    /// --noise's levels, or nil when one is not a number in 1...255.
    var noiseLevels: [Double]? { Self.commaSeparated(noise) { Double($0).flatMap { $0 >= 1 && $0 < 256 ? $0 : nil } } }
    /// --jpeg-noise's qualities (none for `none`), or nil when one is not a quality in 1...100.
    var jpegQualities: [Int]? { jpegNoise == "none" ? [] : Self.commaSeparated(jpegNoise) { Int($0).flatMap { (1...100).contains($0) ? $0 : nil } } }

    static func commaSeparated<T>(_ list: String, _ parse: (String) -> T?) -> [T]? {
        let values = list.split(separator: ",", omittingEmptySubsequences: false).map { parse($0.trimmingCharacters(in: .whitespaces)) }
        return values.isEmpty || values.contains { $0 == nil } ? nil : values.map { $0! }
    }

    func runDenoise(models: [CodecModel], images: [GrayImage], command: String, about: String) throws {
        let (levels, qualities) = (noiseLevels ?? [], jpegQualities ?? [])
        // The model that fits the clean held-out images best (lowest energy), e.g. faces for LFW.
        let probe = Array(images.prefix(8))
        let priors = models.map(Prior.init)
        let model = Denoiser.bestPrior(among: priors, for: probe, sigmas: probe.map { _ in 5 })
        let study = DenoiseBench(model: model, priors: priors, images: images, noiseLevels: levels, jpegQualities: qualities)
        if exportNoisy {
            let folder = out + "/denoise-inputs"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Files.writeAtomically(images.flatMap { $0.bytes() }, to: folder + "/clean.u8", overwrite: true)
            for sigma in levels {
                try Files.writeAtomically(study.noisyImages(sigma: sigma).flatMap { $0.bytes() },
                                          to: folder + "/noisy-\(Int(sigma)).u8", overwrite: true)
                for quality in qualities {
                    try Files.writeAtomically(study.noisyJPEGs(sigma: sigma, quality: quality).flatMap { $0.bytes() },
                                              to: folder + "/noisy-\(Int(sigma))-q\(quality).u8", overwrite: true)
                }
            }
        }
        let progress = Progress("denoising study", total: levels.count * (1 + qualities.count), quiet: common.quiet)
        let (rows, examples, counts) = study.run { progress.update($0, unit: "parts") }
        let jpegRows = try study.runJPEG { progress.update(levels.count + $0, unit: "parts") }
        progress.finish()
        let latency = study.singleImageSeconds(sigma: 25)
        let md = DenoiseBench.markdown(rows: rows, title: "vaecodec denoising study on \(data)", command: command,
                                       description: [about, "model: \(model.name) (\(model.vae.config.summary))"], singleImageSeconds: latency,
                                       counts: counts) + DenoiseBench.jpegMarkdown(jpegRows)
        try Files.writeAtomically(Array(md.utf8), to: out + "/denoise.md", overwrite: force)
        try Files.writeAtomically(Array(DenoiseBench.csv(rows).utf8), to: out + "/denoise.csv", overwrite: force)
        try Files.writeAtomically(Array(DenoiseBench.jpegCSV(jpegRows).utf8), to: out + "/denoise-jpeg.csv", overwrite: force)
        let gridSigma = levels.contains(25) ? 25 : levels[0]
        try Files.writeAtomically(try DenoiseBench.grid(clean: images, examples: examples[gridSigma] ?? [:], sigma: gridSigma).png(),
                                  to: out + "/denoise-grid.png", overwrite: force)
        Terminal.info("wrote \(out)/denoise.md, denoise.csv, denoise-jpeg.csv, denoise-grid.png", quiet: common.quiet)
    }

    /// The split the models were trained on (`VAECodec.trainingSplit`), so that bench measures only images they never
    /// saw; bench may re-crop, which holds out the same people.
    func trainingSplit(of models: [CodecModel], side: Int) throws -> (DatasetSpec, (validationFraction: Double, seed: UInt64)) {
        let records = models.compactMap { model in model.training.map { (model: model.name, record: $0) } }
        let split = try VAECodec.trainingSplit(of: records, data: DatasetSpec(path: data, crop: crop, side: side),
                                               validationFraction: valFraction, seed: seed, recrop: true)
        return (split.spec, (split.validationFraction, split.seed))
    }

    func loadSplit(_ spec: DatasetSpec, _ options: (validationFraction: Double, seed: UInt64)) throws -> (train: ImageDataset, heldOut: ImageDataset) {
        let loading = Progress("loading \(spec.path)", total: 1, quiet: common.quiet || spec.mnistPair != nil)
        let split = try spec.loadSplit(validationFraction: options.validationFraction, seed: options.seed) { done, total in loading.update(done, total: total) }
        loading.finish()
        guard split.heldOut.count > 0 else { throw ImageError(file: spec.path, problem: "no held-out images (raise --val-fraction)") }
        return split
    }
}
