import ArgumentParser
import Codec
import Foundation
import ImageIO

/// `--model auto|faces|digits|PATH`, shared by the codec commands.
struct ModelOptions: ParsableArguments {
    @Option(help: "auto (every shipped model; the best for each image), faces, digits (every member of the family), a member (faces-grid), or a model file.")
    var model = "auto"

    func candidates() throws -> [CodecModel] {
        if model == "auto" {
            let models = try ModelStore.builtins()
            guard !models.isEmpty else { throw ImageError(file: "auto", problem: "no shipped models found; pass --model PATH") }
            return models
        }
        return try ModelStore.load(model)
    }
}

/// How hard the encoder works on each image's symbols.
struct EncoderOptions: ParsableArguments {
    @Option(help: "Adam steps that refine the chosen symbols against the decoder (0: round the encoder's mean and stop). Costs one decoder pass and its backward per step.")
    var refineSteps = LatentRefiner.defaultSteps

    func validate() throws {
        if !(0...1000).contains(refineSteps) { throw ValidationError("--refine-steps must be in 0...1000") }
    }

    var refiner: LatentRefiner { LatentRefiner(steps: refineSteps) }
}

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Compress PNG/JPEG images to .vae files (quantized VAE latent means, rANS-coded).",
        discussion: """
            The image becomes gray and is resized to the model's 64x64 canvas (non-square images are squeezed, \
            and restored on decompression); --crop N keeps only the central NxN square. The output is \
            INPUT.vae beside each input unless -o is given; existing files are kept unless --force. \
            Every model of --model (a family, or all for auto) codes the image at every rung of its ladder; \
            --quality 1-100 keeps the least -PSNR + price * bits, the price falling from 0.1 dB per bit at 1 to \
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
        let models = try modelOptions.candidates()
        let target: RateTarget = bpp.map { .bitsPerPixel($0) } ?? .quality(quality ?? QualityScale.defaultQuality)
        try forEachInput(inputs) { input in
            let decoded = try ImageCodec.read(input)
            let hint: ContainerHeader.FormatHint = decoded.format == .jpeg ? .jpeg : .png
            let choice = RateControl.encode(decoded.image.gray(), models: models, target: target, crop: crop, hint: hint,
                                            refiner: encoderOptions.refiner)
            let target = output ?? OutputPath.beside(input, suffix: ".vae")
            try Files.writeAtomically(choice.file, to: target, overwrite: force)
            report(input: input, output: target, choice)
        }
    }

    func report(input: String, output: String, _ c: EncodingChoice) {
        let rungs = c.model.ladder.rungs.count
        if json {
            let fields: [(String, String)] = [
                ("input", jsonQuoted(input)), ("output", jsonQuoted(output)), ("bytes", "\(c.file.count)"),
                ("header_bytes", "\(c.headerBytes)"), ("payload_bytes", "\(c.payloadBytes)"),
                ("bpp", decimal(c.bitsPerPixel, 4)), ("width", "\(c.width)"), ("height", "\(c.height)"),
                ("model", jsonQuoted(c.model.name)), ("model_id", jsonQuoted(hex(c.model.modelID))),
                ("rung", "\(c.rung)"), ("rungs", "\(rungs)"), ("canvas_psnr_db", decimal(c.canvasPSNR, 2)),
                ("met_target", "\(c.metTarget)"),
            ]
            Terminal.write("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}\n", to: 1)
            return
        }
        if !c.metTarget {
            Terminal.error("\(input): no file fits \(decimal(bpp ?? 0, 3)) bpp; wrote the smallest (\(decimal(c.bitsPerPixel, 3)) bpp)")
        }
        Terminal.info("\(input) -> \(output): \(c.file.count) bytes (\(c.headerBytes) header + \(c.payloadBytes) payload), "
                      + "\(decimal(c.bitsPerPixel, 3)) bpp at \(c.width)x\(c.height), model \(c.model.name), "
                      + "rung \(c.rung) of 0-\(rungs - 1), canvas PSNR \(decimal(c.canvasPSNR, 1)) dB",
                      quiet: common.quiet || output == Files.standardStream)
    }
}

struct DecompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decompress",
        abstract: "Decompress .vae files to PNG or JPEG at their original size.",
        discussion: """
            The output format follows -o's extension, else the original's (recorded in the file): face.vae \
            becomes face.png or face.jpg beside it, never replacing an existing file unless --force. The model \
            is found by the id in the file among the shipped models (and --model PATH, if given).
            """)

    @Argument(help: ".vae files ('-' reads stdin).")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output .png or .jpg (one input only; '-' writes stdout in the original's format).")
    var output: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "JPEG quality for .jpg outputs.")
    var jpegQuality = 95

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if output != nil && inputs.count > 1 { throw ValidationError("-o/--output takes one input only") }
        if !(1...100).contains(jpegQuality) { throw ValidationError("--jpeg-quality must be in 1...100") }
        if let output, output != Files.standardStream, ImageFormat(pathExtension: output) == nil {
            throw ValidationError("-o must end in .png, .jpg or .jpeg")
        }
    }

    func run() throws {
        let models = try modelOptions.candidates() + (modelOptions.model == "auto" ? [] : (try? ModelStore.builtins()) ?? [])
        try forEachInput(inputs) { input in
            let name = input == Files.standardStream ? "<stdin>" : input
            let bytes = try Files.read(input)
            let container = try Container.parse(bytes, name: name)
            // Finding the model decodes the symbols (the integrity check needs them), so they are not decoded twice.
            let (model, symbols) = try findModel(for: container, among: models, file: name)
            let image = LatentCodec(model: model).image(symbols: symbols, header: container.header)
            let hinted: ImageFormat = container.header.formatHint == .jpeg ? .jpeg : .png
            let target = output ?? OutputPath.beside(input, suffix: "." + hinted.fileExtension)
            let format = ImageFormat(pathExtension: target) ?? hinted
            let encoded = format == .png ? try ImageCodec.encodePNG(image.image())
                                         : try ImageCodec.encodeJPEG(image.image(), quality: jpegQuality)
            try Files.writeAtomically(encoded, to: target, overwrite: force)
            Terminal.info("\(input) -> \(target): \(image.width)x\(image.height) \(format.rawValue), model \(model.name), "
                          + "rung \(container.header.rung) of 0-\(model.ladder.rungs.count - 1)",
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
        let models = try modelOptions.candidates() + (modelOptions.model == "auto" ? [] : (try? ModelStore.builtins()) ?? [])
        try forEachInput(inputs) { input in
            let bytes = try Files.read(input)
            let container = try Container.parse(bytes, name: input)
            let h = container.header
            var model: CodecModel?, integrity = "unchecked (model unknown)", failure: Error?
            if models.contains(where: { $0.modelID == h.modelID }) {
                do {
                    model = try findModel(for: container, among: models, file: input).model
                    integrity = "ok"
                } catch {
                    (integrity, failure) = ("FAILED", error)
                }
            }
            let hint = h.formatHint == .jpeg ? "JPEG" : "PNG"
            let headerBytes = bytes.count - container.payload.count
            if json {
                Terminal.write("{\"file\": \(jsonQuoted(input)), \"bytes\": \(bytes.count), \"header_bytes\": \(headerBytes), "
                               + "\"payload_bytes\": \(container.payload.count), \"version\": \(ContainerHeader.version), \"format_hint\": \"\(hint)\", "
                               + "\"rung\": \(h.rung), \"model_id\": \"\(hex(h.modelID))\", \"model\": \(model.map { jsonQuoted($0.name) } ?? "null"), "
                               + "\"width\": \(h.width), \"height\": \(h.height), \"integrity\": \"\(integrity)\"}\n", to: 1)
            } else {
                Terminal.info("""
                    \(input): .vae version \(ContainerHeader.version), \(bytes.count) bytes (\(headerBytes) header + \(container.payload.count) payload)
                      image      \(h.width)x\(h.height), originally \(hint)
                      model      id \(hex(h.modelID))\(model.map { " (\($0.name))" } ?? (failure == nil ? " (not among the available models)" : ""))
                      rung       \(h.rung)\(model.map { " of 0-\($0.ladder.rungs.count - 1)" } ?? "")
                      bpp        \(decimal(Double(bytes.count * 8) / Double(h.width * h.height), 4))
                      integrity  \(integrity)
                    """, quiet: false)
            }
            if let failure { throw failure }
            if model == nil { throw ContainerError(file: input, problem: "made with model id \(hex(h.modelID)), which is not available here") }
        }
    }
}

/// The model that made a file, and the file's symbols. The header names the model by an 8-bit id; when several
/// available models share it, the one whose decoding passes the integrity check is it.
func findModel(for container: Container, among models: [CodecModel], file: String) throws -> (model: CodecModel, symbols: [Int32]) {
    let id = container.header.modelID
    var firstFailure: Error?
    for model in models where model.modelID == id {
        do {
            return (model, try LatentCodec(model: model).decodeSymbols(container, name: file))
        } catch {
            firstFailure = firstFailure ?? error
        }
    }
    if let firstFailure { throw firstFailure }
    let known = models.map { "\($0.name) \(hex($0.modelID))" }.joined(separator: ", ")
    throw ContainerError(file: file, problem: "made with model id \(hex(id)), which is not available (known: \(known.isEmpty ? "none" : known)); pass --model PATH to that model file")
}

func hex(_ id: UInt8) -> String {
    let digits = String(id, radix: 16)
    return "0x" + String(repeating: "0", count: 2 - digits.count) + digits
}

func decimal(_ value: Double, _ places: Int) -> String { String(format: "%.\(places)f", value) }

func jsonQuoted(_ text: String) -> String {
    String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
}
