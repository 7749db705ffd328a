import ArgumentParser
import VAECodecKit

struct CanvasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canvas",
        abstract: "Convert images to the model canvas: what the model sees (gray, square crop, resized).",
        discussion: """
            Gray is BT.601 luma on the stored values; the square is the centre of the image (or the central \
            --crop pixels, e.g. 110 for LFW's 250x250 faces); downsizing averages areas, upsizing is bicubic.
            """)

    @Argument(help: "PNG or JPEG images.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output PNG (one input only). Default: INPUT.canvas.png beside each input.")
    var output: String?

    @Option(help: "Side of the central square to keep, in source pixels (default: the shorter side).")
    var crop: Int?

    @Option(help: "Canvas side in pixels.")
    var side = Canvas.defaultSide

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if output != nil && inputs.count > 1 { throw ValidationError("-o/--output takes one input only") }
        if let crop, crop < 1 { throw ValidationError("--crop must be at least 1") }
        if !(4...1024).contains(side) { throw ValidationError("--side must be in 4...1024") }
    }

    func run() throws {
        try forEachInput(inputs) { input in
            var size = (width: 0, height: 0)
            let read = try ImageCodec.decodeCanvases(Files.read(input), name: Files.displayName(input), sides: [side]) {
                size = ($0, $1)
                return Canvas.centralSquare(width: $0, height: $1, crop: crop)
            }
            let target = output ?? OutputPath.beside(input, suffix: ".canvas.png")
            try Files.writeAtomically(try ImageCodec.encodePNG(read.canvases[0].image()), to: target, overwrite: force)
            Terminal.info("\(input) (\(size.width)x\(size.height) \(read.format.rawValue)) -> \(target) (\(side)x\(side) gray)", quiet: common.quiet || target == Files.standardStream)
        }
    }
}

enum OutputPath {
    /// `dir/face.png` with suffix `.vae` gives `dir/face.vae`; stdin's output goes to stdout.
    static func beside(_ input: String, suffix: String) -> String {
        if input == Files.standardStream { return Files.standardStream }
        let slash = input.lastIndex(of: "/").map { input.index(after: $0) } ?? input.startIndex
        let name = input[slash...]
        let stem = name.lastIndex(of: ".").flatMap { $0 == name.startIndex ? nil : $0 } ?? name.endIndex
        return String(input[..<stem]) + suffix
    }
}
