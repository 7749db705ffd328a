/// An 8-bit image as stored in a file: rows top to bottom, samples interleaved.
/// channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && (1...4).contains(channels), "invalid image shape")
        precondition(pixels.count == width * height * channels, "pixel count does not match the shape")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The luma plane every part of vaecodec uses, training included: ITU-R BT.601 weights applied to the
    /// stored (gamma-encoded) values, Y = 0.299 R + 0.587 G + 0.114 B, no linearisation. Alpha is composited
    /// over white, as a browser shows a transparent image on a white page.
    public func gray() -> GrayImage {
        var plane = [Float](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { p in
            plane.withUnsafeMutableBufferPointer { Luma.convert(p, channels: channels, into: $0) }
        }
        return GrayImage(width: width, height: height, pixels: plane)
    }
}

public enum Luma {
    @inline(__always)
    public static func bt601(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Float {
        0.299 * Float(r) + 0.587 * Float(g) + 0.114 * Float(b)
    }

    /// Interleaved samples (`channels` per pixel) to gray, alpha composited over white: the one conversion that
    /// `Image.gray()` and the row decoders share.
    public static func convert(_ samples: UnsafeBufferPointer<UInt8>, channels: Int, into plane: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<plane.count {
            let s = i * channels
            let (luma, alpha): (Float, Float) = switch channels {
            case 1: (Float(samples[s]), 255)
            case 2: (Float(samples[s]), Float(samples[s + 1]))
            case 3: (bt601(samples[s], samples[s + 1], samples[s + 2]), 255)
            default: (bt601(samples[s], samples[s + 1], samples[s + 2]), Float(samples[s + 3]))
            }
            plane[i] = alpha == 255 ? luma : (luma * alpha + 255 * (255 - alpha)) / 255
        }
    }
}

/// One gray plane with Float samples on the 0...255 scale: the working form between file and model.
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height, "invalid gray image shape")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(_ image: Image) { self = image.gray() }

    /// Samples rounded to the nearest integer and clamped to 0...255.
    public func bytes() -> [UInt8] {
        pixels.map { $0 >= 0 ? UInt8(min(255, $0.rounded())) : 0 }  // NaN lands on 0
    }

    public func image() -> Image { Image(width: width, height: height, channels: 1, pixels: bytes()) }
}
