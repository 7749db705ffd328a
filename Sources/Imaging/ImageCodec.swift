import CImageShim

public enum ImageFormat: String, Sendable, CaseIterable {
    case png = "PNG"
    case jpeg = "JPEG"

    /// Sniffs the content: the extension may lie, the signature does not.
    public init?(signature bytes: [UInt8]) {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else {
            return nil
        }
    }

    /// The format a file name asks for: `.png`, `.jpg` or `.jpeg` (any case); nil for anything else.
    public init?(pathExtension path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        default: return nil
        }
    }

    public var fileExtension: String { self == .png ? "png" : "jpg" }
}

/// Sizes refused before any pixel buffer is allocated, so a hostile header cannot exhaust memory.
public enum ImageLimits {
    public static let maxSide = 16_384
    public static let maxPixels = 1 << 28
    public static let maxFileBytes = 256 << 20
}

/// A failure reading or writing one image, as one line naming the file.
public struct ImageError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "\(file): \(problem)" }
}

/// What was in the file besides the pixels, for reporting and for choosing the output format.
public struct DecodedImage: Sendable {
    public let image: Image
    public let format: ImageFormat
    public let sourceBitDepth: Int
    public let progressiveOrInterlaced: Bool
}

public enum ImageCodec {
    /// Decodes PNG or JPEG bytes. `name` is only used in error messages; when it carries a `.png`/`.jpg`
    /// extension that disagrees with the content, that is an error too (a renamed file is usually a mistake).
    /// - Parameter maxPixels: larger images are refused before any pixel buffer is allocated.
    public static func decode(_ bytes: [UInt8], name: String, maxPixels: Int = ImageLimits.maxPixels) throws -> DecodedImage {
        let format = try format(of: bytes, name: name)
        var raw = vc_image()
        var message = [CChar](repeating: 0, count: Int(VC_MESSAGE_SIZE))
        let status = bytes.withUnsafeBufferPointer { data in
            message.withUnsafeMutableBufferPointer { text in
                let decode = format == .png ? vc_png_decode : vc_jpeg_decode
                return decode(data.baseAddress, data.count, UInt32(ImageLimits.maxSide),
                              UInt64(min(maxPixels, ImageLimits.maxPixels)), &raw, text.baseAddress)
            }
        }
        defer { vc_free(raw.pixels) }
        try check(status, message, format: format, name: name, maxPixels: min(maxPixels, ImageLimits.maxPixels))
        let count = Int(raw.width) * Int(raw.height) * Int(raw.channels)
        let pixels = Array(UnsafeBufferPointer(start: raw.pixels, count: count))
        return DecodedImage(
            image: Image(width: Int(raw.width), height: Int(raw.height), channels: Int(raw.channels), pixels: pixels),
            format: format, sourceBitDepth: Int(raw.source_bit_depth), progressiveOrInterlaced: raw.progressive != 0)
    }

    /// Decodes row by row without ever holding the whole image (an interlaced PNG excepted, which has its own lower
    /// limit): `start` gets width, height and channels once the limits are checked, and may throw to stop; `row` gets
    /// each row's samples (width x channels, valid during the call) and its index, top to bottom. The decoder may
    /// still fail after the last row, so nothing derived from the rows may be used until this returns.
    public static func decodeRows(_ bytes: [UInt8], name: String, start: (_ width: Int, _ height: Int, _ channels: Int) throws -> Void,
                                  row: (UnsafeBufferPointer<UInt8>, Int) -> Void) throws -> ImageFormat {
        let format = try format(of: bytes, name: name)
        var message = [CChar](repeating: 0, count: Int(VC_MESSAGE_SIZE))
        var thrown: Error?
        let status = withoutActuallyEscaping(start) { start in
            withoutActuallyEscaping(row) { row in
                let context = RowContext(start: start, row: row)
                var sink = vc_row_sink(context: Unmanaged.passUnretained(context).toOpaque(), start: { context, width, height, channels in
                    let box = Unmanaged<RowContext>.fromOpaque(context!).takeUnretainedValue()
                    box.rowLength = Int(width) * Int(channels)
                    do { try box.start(Int(width), Int(height), Int(channels)) } catch {
                        box.error = error
                        return Int32(VC_ERROR)
                    }
                    return Int32(VC_OK)
                }, row: { context, samples, y in
                    let box = Unmanaged<RowContext>.fromOpaque(context!).takeUnretainedValue()
                    box.row(UnsafeBufferPointer(start: samples, count: box.rowLength), Int(y))
                })
                defer { thrown = context.error }
                var raw = vc_image()
                return bytes.withUnsafeBufferPointer { data in
                    message.withUnsafeMutableBufferPointer { text in
                        let decode = format == .png ? vc_png_decode_rows : vc_jpeg_decode_rows
                        return decode(data.baseAddress, data.count, UInt32(ImageLimits.maxSide), UInt64(ImageLimits.maxPixels), &sink, &raw, text.baseAddress)
                    }
                }
            }
        }
        if let thrown { throw thrown }
        try check(status, message, format: format, name: name)
        return format
    }

    private final class RowContext {
        let start: (Int, Int, Int) throws -> Void
        let row: (UnsafeBufferPointer<UInt8>, Int) -> Void
        var rowLength = 0
        var error: Error?
        init(start: @escaping (Int, Int, Int) throws -> Void, row: @escaping (UnsafeBufferPointer<UInt8>, Int) -> Void) {
            (self.start, self.row) = (start, row)
        }
    }

    /// The format the content has, refusing empty files, unknown signatures and misleading extensions.
    private static func format(of bytes: [UInt8], name: String) throws -> ImageFormat {
        guard !bytes.isEmpty else { throw ImageError(file: name, problem: "file is empty") }
        guard let format = ImageFormat(signature: bytes) else {
            throw ImageError(file: name, problem: "not a PNG or JPEG image (unrecognised signature)")
        }
        if let claimed = ImageFormat(pathExtension: name), claimed != format {
            throw ImageError(
                file: name,
                problem: "file extension says \(claimed.rawValue) but the content is \(format.rawValue); rename it to .\(format.fileExtension)")
        }
        return format
    }

    private static func check(_ status: Int32, _ message: [CChar], format: ImageFormat, name: String,
                              maxPixels: Int = ImageLimits.maxPixels) throws {
        let text = cString(message)
        switch Int(status) {
        case VC_OK: return
        case VC_TOO_LARGE:
            throw ImageError(file: name, problem: "\(text) (limit \(ImageLimits.maxSide) px a side, \(maxPixels) pixels)")
        case VC_NO_MEMORY:
            throw ImageError(file: name, problem: text.isEmpty ? "out of memory" : text)
        default:
            throw ImageError(file: name, problem: "invalid or damaged \(format.rawValue): \(text)")
        }
    }

    /// A gray region of the image resized to each of `sides` squared, straight from the file a row at a time: the
    /// same samples as `Canvas.resize` of the region of the whole decoded image, in the memory of one row and the
    /// outputs. `region` picks the rectangle from the image's width and height (`Canvas.codedRegion` for what
    /// `compress` codes, `Canvas.centralSquare` for training's canvas). Also returns the region's size, the file's
    /// channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) and its format.
    public static func decodeCanvases(_ bytes: [UInt8], name: String, sides: [Int],
                                      region rule: (_ width: Int, _ height: Int) -> (x: Int, y: Int, width: Int, height: Int)) throws
        -> (canvases: [GrayImage], width: Int, height: Int, channels: Int, format: ImageFormat) {
        var region = (x: 0, y: 0, width: 0, height: 0)
        var channels = 1
        var resizers: [RowResizer] = []
        var gray: [Float] = []
        let format = try decodeRows(bytes, name: name, start: { width, height, samples in
            region = rule(width, height)
            channels = samples
            resizers = sides.map { RowResizer(width: region.width, height: region.height, toWidth: $0, height: $0) }
            gray = [Float](repeating: 0, count: region.width)
        }, row: { samples, y in
            guard (region.y..<(region.y + region.height)).contains(y) else { return }
            let inside = UnsafeBufferPointer(rebasing: samples[(region.x * channels)..<((region.x + region.width) * channels)])
            gray.withUnsafeMutableBufferPointer { plane in
                Luma.convert(inside, channels: channels, into: plane)
                for i in resizers.indices { resizers[i].add(UnsafeBufferPointer(plane), row: y - region.y) }
            }
        })
        return (resizers.map { $0.result() }, region.width, region.height, channels, format)
    }

    /// PNG is lossless; `text` becomes one tEXt chunk (key, value), e.g. the scale of an uncertainty map.
    public static func encodePNG(_ image: Image, text: (key: String, value: String)? = nil) throws -> [UInt8] {
        try encode(image, format: .png) { pixels, buffer, message in
            vc_png_encode(pixels, UInt32(image.width), UInt32(image.height), UInt32(image.channels),
                          text?.key, text?.value, buffer, message)
        }
    }

    /// Baseline JPEG at quality 1...100; gray stays one channel, colour is written as YCbCr.
    /// `optimize` computes per-image Huffman tables (smaller files, what a fair comparison uses).
    public static func encodeJPEG(_ image: Image, quality: Int, optimize: Bool = true) throws -> [UInt8] {
        guard (1...100).contains(quality) else {
            throw ImageError(file: "JPEG", problem: "quality \(quality) is outside 1...100")
        }
        let flat = image.channels == 2 || image.channels == 4 ? image.withoutAlpha() : image
        return try encode(flat, format: .jpeg) { pixels, buffer, message in
            vc_jpeg_encode(pixels, UInt32(flat.width), UInt32(flat.height), UInt32(flat.channels),
                           Int32(quality), optimize ? 1 : 0, buffer, message)
        }
    }

    public static func encode(_ image: Image, as format: ImageFormat, jpegQuality: Int = 95) throws -> [UInt8] {
        format == .png ? try encodePNG(image) : try encodeJPEG(image, quality: jpegQuality)
    }

    private static func encode(
        _ image: Image, format: ImageFormat,
        call: (UnsafePointer<UInt8>, UnsafeMutablePointer<vc_buffer>, UnsafeMutablePointer<CChar>) -> Int32
    ) throws -> [UInt8] {
        var buffer = vc_buffer()
        var message = [CChar](repeating: 0, count: Int(VC_MESSAGE_SIZE))
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            message.withUnsafeMutableBufferPointer { call(pixels.baseAddress!, &buffer, $0.baseAddress!) }
        }
        defer { vc_free(buffer.bytes) }
        guard Int(status) == VC_OK else {
            throw ImageError(file: format.rawValue, problem: "encoding failed: \(cString(message))")
        }
        return Array(UnsafeBufferPointer(start: buffer.bytes, count: buffer.size))
    }
}

private func cString(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension Image {
    /// Composites alpha over white (as `gray()` does) and drops the alpha channel.
    func withoutAlpha() -> Image {
        guard channels == 2 || channels == 4 else { return self }
        let colour = channels - 1
        var out = [UInt8](repeating: 0, count: width * height * colour)
        for i in 0..<(width * height) {
            let alpha = Int(pixels[i * channels + colour])
            for c in 0..<colour {
                let v = Int(pixels[i * channels + c])
                out[i * colour + c] = UInt8((v * alpha + 255 * (255 - alpha) + 127) / 255)
            }
        }
        return Image(width: width, height: height, channels: colour, pixels: out)
    }
}
