import ArgumentParser
import Foundation
import VAECodecKit

/// `--model auto|faces|digits|PATH`, shared by the codec commands.
struct ModelOptions: ParsableArguments {
    @Option(help: "auto (every shipped model; the best for each image), faces, digits (every member of the family), a member (faces-grid), or a model file.",
            completion: .custom { _, _, prefix in
                // The shipped names, then model files in the folder being typed.
                let names = ["auto"] + ModelRegistry.familyNames + ModelRegistry.shipped().models.map(\.name)
                let folder = prefix.contains("/") ? String(prefix[...prefix.lastIndex(of: "/")!]) : ""
                let files = ((try? Files.list(folder.isEmpty ? "." : folder)) ?? []).filter { $0.hasSuffix(".safetensors") }.map { folder + $0 }
                var seen = Set<String>()
                return (names + files).filter { $0.hasPrefix(prefix) && seen.insert($0).inserted }
            })
    var model = "auto"

    /// The library over the shipped models and, when `selection` (default: --model) names a file, that file.
    func codec(_ selection: String? = nil) throws -> VAECodec {
        VAECodec(models: try VAECodec().registry(for: selection ?? model))
    }
}

extension Effort: ExpressibleByArgument {}

/// How hard the encoder works on each image's symbols.
struct EncoderOptions: ParsableArguments {
    @Option(help: "fast (each member of the image's domain at the rung a local search finds), balanced (that, then the chosen code refined until its search stalls) or best (every model at every rung, then \(LatentRefiner.defaultSteps) steps of two searches: the slowest).")
    var effort = Effort.default

    @Option(help: "Adam steps that refine the chosen symbols against the decoder, overriding the effort's (0: round the encoder's mean and stop). Costs one decoder pass and its backward per step.")
    var refineSteps: Int?

    func validate() throws {
        if let refineSteps, !(0...1000).contains(refineSteps) { throw ValidationError("--refine-steps must be in 0...1000") }
    }

    var settings: EncoderSettings { EncoderSettings(effort: effort, refineSteps: refineSteps) }

}

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Compress PNG/JPEG images to .vae files (quantized VAE latent means, rANS-coded).",
        discussion: """
            The image becomes gray and is resized to the model's 64x64 canvas (non-square images are squeezed, \
            and restored on decompression); --crop N keeps only the central NxN square. The output is \
            INPUT.vae beside each input unless -o is given; existing files are kept unless --force. \
            With --model auto each image's family is chosen first; its members search their ladders for the \
            rung (--effort best: every model at every rung), and --quality 1-100 keeps the least -PSNR + price * bits, the price falling from 0.1 dB per bit at 1 to \
            0.0003 at 100 (docs/FORMAT.md); --bpp X keeps the best PSNR among files of at most X bits per pixel.
            """)

    @Argument(help: "PNG or JPEG images ('-' reads stdin).")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output .vae file (one input only; '-' writes stdout).")
    var output: String?

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var encoderOptions: EncoderOptions

    @Option(help: "Quality 1-100 (default \(QualityScale.defaultQuality)).")
    var quality: Int?

    @Option(help: "Target bits per pixel of the whole file, instead of --quality.")
    var bpp: Double?

    @Option(help: "Keep only the central NxN square of each image.")
    var crop: Int?

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @Flag(help: "One JSON object per file on stdout instead of the summary line.")
    var json = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if output != nil && inputs.count > 1 { throw ValidationError("-o/--output takes one input only") }
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be in 1...100") }
        if quality != nil && bpp != nil { throw ValidationError("give --quality or --bpp, not both") }
        if let bpp, !(bpp > 0 && bpp.isFinite) { throw ValidationError("--bpp must be a positive number") }
        if let crop, crop < 1 { throw ValidationError("--crop must be at least 1") }
        if json && (output == Files.standardStream || inputs == [Files.standardStream] && output == nil) {
            throw ValidationError("--json prints to stdout, so the .vae cannot go there too")
        }
    }

    func run() throws {
        let codec = try modelOptions.codec()
        let options = VAECodec.CompressionOptions(model: modelOptions.model, target: bpp.map { .bitsPerPixel($0) } ?? .quality(quality ?? QualityScale.defaultQuality),
                                                  effort: encoderOptions.effort, refineSteps: encoderOptions.refineSteps, crop: crop)
        try forEachGroup(inputs, size: 8 * EncoderSettings().batchSize, weight: { $0.image.encoderInput.sampleCount },
                         progress: "compress", quiet: common.quiet || json) { input in
            let output = self.output ?? OutputPath.beside(input, suffix: ".vae")
            if !force && output != Files.standardStream && Files.exists(output) {
                throw ImageError(file: output, problem: "already exists (use --force to overwrite)")
            }
            // Each file is read straight to the canvases its models need, a row at a time, never whole.
            return (input: input, output: output, image: try codec.read(imageFile: Files.read(input), name: Files.displayName(input), options: options))
        } process: { ready in
            try codec.compress(ready.map(\.image), options: options)
        } finish: { item, choice in
            try Files.writeAtomically(choice.file, to: item.output, overwrite: force)
            report(input: item.input, output: item.output, choice, colour: item.image.wasColour)
        }
    }

    func report(input: String, output: String, _ c: EncodingChoice, colour: Bool) {
        let rungs = c.model.ladder.rungs.count
        if json {
            let fields: [(String, String)] = [
                ("input", jsonQuoted(input)), ("output", jsonQuoted(output)), ("bytes", "\(c.file.count)"),
                ("header_bytes", "\(c.headerBytes)"), ("payload_bytes", "\(c.payloadBytes)"),
                ("bpp", decimal(c.bitsPerPixel, 4)), ("width", "\(c.width)"), ("height", "\(c.height)"),
                ("model", jsonQuoted(c.model.name)), ("model_id", jsonQuoted(hex(c.model.modelID))),
                ("rung", "\(c.rung)"), ("rungs", "\(rungs)"), ("canvas_psnr_db", decimal(c.canvasPSNR, 2)),
                ("met_target", "\(c.metTarget)"), ("colour_to_gray", "\(colour)"),
            ]
            Terminal.write("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}\n", to: 1)
            return
        }
        if !c.metTarget {
            Terminal.error("\(input): no file fits \(decimal(bpp ?? 0, 3)) bpp; wrote the smallest (\(decimal(c.bitsPerPixel, 3)) bpp)")
        }
        Terminal.info("\(input) -> \(output): \(c.file.count) bytes (\(c.headerBytes) header + \(c.payloadBytes) payload), "
                      + "\(decimal(c.bitsPerPixel, 3)) bpp at \(c.width)x\(c.height), model \(c.model.name), "
                      + "rung \(c.rung) of 0-\(rungs - 1), canvas PSNR \(decimal(c.canvasPSNR, 1)) dB"
                      + (colour ? "; coded in gray (the colour image's BT.601 luma)" : ""),
                      quiet: common.quiet || output == Files.standardStream)
    }
}

struct DecompressCommand: ParsableCommand {
    /// Where a file decodes to without -o: beside it, in its original's format, under a name that cannot be the
    /// original's (face.vae -> face.decoded.png, not face.png).
    static func target(_ input: String, _ header: ContainerHeader) -> String {
        OutputPath.beside(input, suffix: header.formatHint == .jpeg ? ".decoded.jpg" : ".decoded.png")
    }

    static let configuration = CommandConfiguration(
        commandName: "decompress",
        abstract: "Decompress .vae files to PNG or JPEG at their original size.",
        discussion: """
            The output format follows -o's extension, else the original's (recorded in the file): face.vae \
            becomes face.decoded.png or face.decoded.jpg beside it (never the original's name), keeping an existing file unless --force. The model \
            is found by the id in the file among the shipped models (and --model PATH, if given).
            """)

    @Argument(help: ".vae files ('-' reads stdin).")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output .png or .jpg (one input only; '-' writes stdout in the original's format).")
    var output: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "JPEG quality for .jpg outputs.")
    var jpegQuality = 95

    @Option(help: ArgumentHelp("Refuse files that decode to more pixels than this (4096x4096 by default).",
                               discussion: "Up to 33554432 (5792x5792); each output pixel costs about 8.5 bytes of memory."))
    var maxOutputPixels = VAEFile.defaultMaxOutputPixels

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if output != nil && inputs.count > 1 { throw ValidationError("-o/--output takes one input only") }
        if !(1...VAEFile.maxOutputPixels).contains(maxOutputPixels) {
            throw ValidationError("--max-output-pixels must be in 1...\(VAEFile.maxOutputPixels)")
        }
        if !(1...100).contains(jpegQuality) { throw ValidationError("--jpeg-quality must be in 1...100") }
        if let output, output != Files.standardStream, ImageFormat(pathExtension: output) == nil {
            throw ValidationError("-o must end in .png, .jpg or .jpeg")
        }
    }

    func run() throws {
        let codec = try modelOptions.codec()
        let quality = jpegQuality
        // A group is bounded by the pixels its files declare: a 20-byte file may ask for 16384 x 16384.
        try forEachGroup(inputs, size: 512, weight: { $0.pixels }, progress: "decompress", quiet: common.quiet) { input in
            let (bytes, name) = (try Files.read(input), Files.displayName(input))
            let header = try Container.parse(bytes, name: name).header
            try VAEFile.checkOutputSize(header, limit: maxOutputPixels, name: name)
            if output == nil, !force, case let target = Self.target(input, header), Files.exists(target) {
                throw ImageError(file: target, problem: "already exists (-o names another output, --force replaces it)")
            }
            return (input: input, bytes: bytes, name: name, pixels: header.width * header.height)
        } process: { files in
            // Decoded in batches on both cores, then encoded to PNG or JPEG on both cores too.
            let decoded = codec.decompress(files: files.map { ($0.bytes, $0.name) }, maxOutputPixels: maxOutputPixels)
            return Parallel.map(files.count) { i, _ -> Result<(decoded: VAEFile.Decoded, target: String, format: ImageFormat, bytes: [UInt8]), Error> in
                let (file, result) = (files[i], decoded[i])
                return Result {
                    let d = try result.get()
                    let target = output ?? Self.target(file.input, d.header)
                    let format = ImageFormat(pathExtension: target) ?? (d.header.formatHint == .jpeg ? .jpeg : .png)
                    let bytes = format == .png ? try ImageCodec.encodePNG(d.image.image()) : try ImageCodec.encodeJPEG(d.image.image(), quality: quality)
                    return (d, target, format, bytes)
                }
            }
        } finish: { file, result in
            let (d, target, format, bytes) = try result.get()
            try Files.writeAtomically(bytes, to: target, overwrite: force)
            Terminal.info("\(file.input) -> \(target): \(d.image.width)x\(d.image.height) \(format.rawValue), model \(d.model.name), "
                          + "rung \(d.header.rung) of 0-\(d.model.ladder.rungs.count - 1)",
                          quiet: common.quiet || target == Files.standardStream)
        }
    }
}

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a .vae file's header fields and check its integrity.",
        discussion: "Exits non-zero when a file is malformed, its model is unknown, or it fails the integrity check.")

    @Argument(help: ".vae files.")
    var inputs: [String]

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "One JSON object per file.")
    var json = false

    func run() throws {
        let codec = try modelOptions.codec()
        try forEachInput(inputs) { input in
            let found = try codec.inspect(try Files.read(input), name: input)
            let h = found.header
            let integrity = found.failure != nil ? "FAILED" : found.model == nil ? "unchecked (model unknown)" : "ok"
            let hint = h.formatHint == .jpeg ? "JPEG" : "PNG"
            if json {
                Terminal.write("{\"file\": \(jsonQuoted(input)), \"bytes\": \(found.fileBytes), \"header_bytes\": \(found.headerBytes), "
                               + "\"payload_bytes\": \(found.payloadBytes), \"version\": \(ContainerHeader.version), \"format_hint\": \"\(hint)\", "
                               + "\"rung\": \(h.rung), \"model_id\": \"\(hex(h.modelID))\", \"model\": \(found.model.map { jsonQuoted($0) } ?? "null"), "
                               + "\"width\": \(h.width), \"height\": \(h.height), \"integrity\": \"\(integrity)\"}\n", to: 1)
            } else {
                Terminal.info("""
                    \(input): .vae version \(ContainerHeader.version), \(found.fileBytes) bytes (\(found.headerBytes) header + \(found.payloadBytes) payload)
                      image      \(h.width)x\(h.height), originally \(hint)
                      model      id \(hex(h.modelID))\(found.model.map { " (\($0))" } ?? (found.failure == nil ? " (not among the available models)" : ""))
                      rung       \(h.rung)\(found.rungCount.map { " of 0-\($0 - 1)" } ?? "")
                      bpp        \(decimal(Double(found.fileBytes * 8) / Double(h.width * h.height), 4))
                      integrity  \(integrity)
                    """, quiet: false)
            }
            if let failure = found.failure { throw failure }
            if found.model == nil { throw ContainerError(file: input, problem: "made with model id \(hex(h.modelID)), which is not available here") }
        }
    }
}

func hex(_ id: UInt8) -> String { VAEFile.hex(id) }

func decimal(_ value: Double, _ places: Int) -> String { String(format: "%.\(places)f", value) }

func jsonQuoted(_ text: String) -> String {
    String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
}
