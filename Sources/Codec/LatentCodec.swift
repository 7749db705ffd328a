import EntropyCoding
import Imaging
import NeuralNet
import VAE

/// image -> canvas -> encoder mean -> quantized symbols -> rANS -> .vae, and back.
///
/// The canvas is the whole image resized to the model's square (non-square images are squeezed and
/// restored on decode, so nothing outside a crop is lost), or the central `crop` square when asked.
/// Only the encoder's mean is sent: sampling z would add noise the decoder must then undo.
public struct LatentCodec {
    public let model: CodecModel

    public init(model: CodecModel) { self.model = model }

    public var rungCount: Int { model.ladder.rungs.count }

    /// The region a file's image contributes, and the model's view of it (pixel values 0...255).
    public func canvas(of image: GrayImage, crop: Int? = nil) -> (canvas: GrayImage, width: Int, height: Int) {
        EncoderInput.canvas(of: image, crop: crop, side: model.canvas)
    }

    /// Encoder means for a batch of canvases, [N][latent].
    public func means(_ canvases: [GrayImage]) -> [[Float]] { model.vae.means(canvases) }

    /// A file's symbols for an encoder mean (`RateLadder.symbols(mean:rung:)`).
    public func symbols(mean: [Float], rung: Int) -> [Int32] {
        model.ladder.symbols(mean: mean[...], rung: rung)
    }

    /// A file's symbols at every rung for an encoder mean (`RateLadder.symbolsAtEveryRung(mean:)`).
    public func symbolsAtEveryRung(mean: [Float]) -> [[Int32]] { model.ladder.symbolsAtEveryRung(mean: mean[...]) }

    /// The header of this model's file for a rung and an original size.
    public func header(rung: Int, width: Int, height: Int, hint: ContainerHeader.FormatHint) -> ContainerHeader {
        ContainerHeader(formatHint: hint, rung: UInt8(rung), modelID: model.modelID, width: width, height: height)
    }

    /// A complete .vae file for these symbols: the header, then the rANS stream whose initial state carries
    /// the integrity check.
    public func file(symbols: [Int32], header: ContainerHeader) -> [UInt8] {
        let check = Container.integrityCheck(header: header, symbols: symbols, fingerprint: model.fingerprint)
        let payload = QuantizedSymbolCoder.encode(values: symbols, tables: model.ladder.tables(for: symbols, rung: Int(header.rung)), check: check)
        return Container(header: header, payload: payload).serialized()
    }

    /// Decoder means for a batch of symbol vectors, as canvases with pixel values 0...255 (not rounded).
    public func reconstructions(_ symbolSets: [[Int32]], rung: Int) -> [GrayImage] {
        reconstructions(symbolSets.map { ($0, rung) })
    }

    /// The same for symbol vectors of different rungs, in one pass through the decoder.
    public func reconstructions(_ coded: [(symbols: [Int32], rung: Int)]) -> [GrayImage] {
        let k = model.vae.config.latent, side = model.canvas
        let z = Tensor(shape: [coded.count, k], data: coded.flatMap { model.ladder.dequantize($0.symbols, rung: $0.rung) })
        let images = model.vae.decode(z).data
        return (0..<coded.count).map { n in
            GrayImage(width: side, height: side, pixels: images[(n * side * side)..<((n + 1) * side * side)].map { $0 * 255 })
        }
    }

    /// One image to a complete .vae file.
    public func compress(_ image: GrayImage, rung: Int, crop: Int? = nil, hint: ContainerHeader.FormatHint) -> [UInt8] {
        precondition((0..<rungCount).contains(rung), "rung \(rung) outside the model's ladder")
        let (canvas, width, height) = self.canvas(of: image, crop: crop)
        return file(symbols: symbols(mean: means([canvas])[0], rung: rung), header: header(rung: rung, width: width, height: height, hint: hint))
    }

    /// Symbols of a parsed container whose model id is this model's (see `decodeSymbols(_:ladder:fingerprint:model:name:)`).
    public func decodeSymbols(_ container: Container, name: String) throws -> [Int32] {
        try Self.decodeSymbols(container, ladder: model.ladder, fingerprint: model.fingerprint, model: model.name, name: name)
    }

    /// Symbols of a parsed container, under a model's tables alone (no weights). The payload must hold exactly the
    /// symbols (no bytes missing, none left over) and end in the state that carries their integrity check.
    static func decodeSymbols(_ container: Container, ladder: RateLadder, fingerprint: UInt64, model: String, name: String) throws -> [Int32] {
        func fail(_ problem: String) -> ContainerError { ContainerError(file: name, problem: problem) }
        let header = container.header
        guard Int(header.rung) < ladder.rungs.count else {
            throw fail("quality rung \(header.rung) does not exist in model \(model) (\(ladder.rungs.count) rungs)")
        }
        do {
            let rung = Int(header.rung)
            return try QuantizedSymbolCoder.decode(bytes: container.payload, tables: ladder.sideTables(rung: rung),
                                                   then: { ladder.latentTables(rung: rung, side: $0) }) {
                Container.integrityCheck(header: header, symbols: $0, fingerprint: fingerprint)
            }
        } catch EntropyCodingError.finalStateMismatch {
            throw fail("integrity check failed: the file is damaged (or was made by another model with the same id)")
        } catch {
            throw fail("payload does not decode: the file is damaged or truncated")
        }
    }

    /// A complete .vae file back to an image at its original width and height.
    public func decompress(_ container: Container, name: String) throws -> GrayImage {
        image(symbols: try decodeSymbols(container, name: name), header: container.header)
    }

    /// Decoded symbols back to an image at the header's width and height.
    public func image(symbols: [Int32], header: ContainerHeader) -> GrayImage {
        let canvas = reconstructions([symbols], rung: Int(header.rung))[0]
        return Canvas.resize(canvas, width: header.width, height: header.height)
    }
}
