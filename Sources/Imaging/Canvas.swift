/// The square region of a source image that the model sees, in source pixel coordinates.
public struct CropBox: Sendable, Equatable, Codable {
    public let x: Int
    public let y: Int
    public let side: Int

    /// The central square of side `crop` (or of the shorter side when nil, or when `crop` exceeds it).
    /// LFW's face convention is `crop: 110` on 250x250: pixels 70...179 in both axes.
    public static func centered(width: Int, height: Int, crop: Int? = nil) -> CropBox {
        let side = min(crop ?? Int.max, width, height)
        return CropBox(x: (width - side) / 2, y: (height - side) / 2, side: side)
    }
}

/// Conversion between a file's gray plane and the model's square canvas (64x64 by default).
///
/// Downsampling averages areas: each output pixel is the exact area-weighted mean of the source pixels it
/// covers (a box filter with fractional edges), which is what resizing to a smaller grid should do and
/// aliases least for its cost. Upsampling uses bicubic interpolation (Keys, a = -0.5, i.e. Catmull-Rom)
/// with edges clamped. The two axes choose independently.
public enum Canvas {
    public static let defaultSide = 64

    /// The region of a width x height image that `compress` and `denoise` code: the whole image, squeezed to the
    /// square canvas and restored on output, or with `crop` the central square of that side (clipped to the image).
    public static func codedRegion(width: Int, height: Int, crop: Int?) -> (x: Int, y: Int, width: Int, height: Int) {
        guard let crop else { return (0, 0, width, height) }
        let box = CropBox.centered(width: width, height: height, crop: crop)
        return (box.x, box.y, box.side, box.side)
    }

    /// The region training and `vaecodec canvas` use: the central square of side `crop`, or of the shorter side.
    public static func centralSquare(width: Int, height: Int, crop: Int?) -> (x: Int, y: Int, width: Int, height: Int) {
        let box = CropBox.centered(width: width, height: height, crop: crop)
        return (box.x, box.y, box.side, box.side)
    }

    public static func toCanvas(_ image: GrayImage, crop: Int? = nil, side: Int = defaultSide) -> GrayImage {
        let box = CropBox.centered(width: image.width, height: image.height, crop: crop)
        return resize(image.cropped(to: box), width: side, height: side)
    }

    public static func resize(_ image: GrayImage, width: Int, height: Int) -> GrayImage {
        precondition(width > 0 && height > 0, "target size must be positive")
        if width == image.width && height == image.height { return image }
        var resizer = RowResizer(width: image.width, height: image.height, toWidth: width, height: height)
        image.pixels.withUnsafeBufferPointer { p in
            for y in 0..<image.height { resizer.add(UnsafeBufferPointer(rebasing: p[(y * image.width)..<((y + 1) * image.width)]), row: y) }
        }
        return resizer.result()
    }
}

/// `Canvas.resize` for an image that arrives a row at a time, top to bottom: it keeps only the output, so a
/// 16384x16384 source costs one row. Each source row is filtered horizontally, then added to the output rows whose
/// vertical taps include it; taps are in increasing source order, so every output sample is summed in the same order
/// as a whole-image pass would, and the result is the same to the bit.
public struct RowResizer {
    let sourceWidth: Int, width: Int, height: Int
    let columns: ResamplingWeights
    /// For each source row, the output rows it feeds and with what weight, in output order.
    let feeds: [[(Int, Float)]]
    /// Bicubic overshoots at edges, so a result that grows along either axis is clamped to 0...255.
    let upsamples: Bool
    var output: [Float]
    var horizontal: [Float]

    public init(width sourceWidth: Int, height sourceHeight: Int, toWidth width: Int, height: Int) {
        precondition(sourceWidth > 0 && sourceHeight > 0 && width > 0 && height > 0, "sizes must be positive")
        (self.sourceWidth, self.width, self.height) = (sourceWidth, width, height)
        columns = ResamplingWeights(from: sourceWidth, to: width)
        var feeds = [[(Int, Float)]](repeating: [], count: sourceHeight)
        for (y, taps) in ResamplingWeights(from: sourceHeight, to: height).taps.enumerated() {
            for (index, weight) in taps { feeds[index].append((y, weight)) }
        }
        self.feeds = feeds
        output = [Float](repeating: 0, count: width * height)
        horizontal = [Float](repeating: 0, count: width)
        upsamples = width > sourceWidth || height > sourceHeight
    }

    /// Adds source row `y` (`sourceWidth` gray samples).
    public mutating func add(_ row: UnsafeBufferPointer<Float>, row y: Int) {
        precondition(row.count == sourceWidth, "row \(y) has \(row.count) samples, not \(sourceWidth)")
        for x in 0..<width {
            var sum: Float = 0
            for (index, weight) in columns.taps[x] { sum += weight * row[index] }
            horizontal[x] = sum
        }
        for (target, weight) in feeds[y] {
            let base = target * width
            for x in 0..<width { output[base + x] += weight * horizontal[x] }
        }
    }

    /// The resized image, once every source row has been added.
    public func result() -> GrayImage {
        var out = output
        if upsamples {
            for i in out.indices { out[i] = min(255, max(0, out[i])) }
        }
        return GrayImage(width: width, height: height, pixels: out)
    }
}

extension GrayImage {
    public func cropped(to box: CropBox) -> GrayImage {
        precondition(box.x >= 0 && box.y >= 0 && box.x + box.side <= width && box.y + box.side <= height)
        if box.side == width && box.side == height { return self }
        var out = [Float](repeating: 0, count: box.side * box.side)
        for y in 0..<box.side {
            let source = (box.y + y) * width + box.x
            out[(y * box.side)..<((y + 1) * box.side)] = pixels[source..<(source + box.side)]
        }
        return GrayImage(width: box.side, height: box.side, pixels: out)
    }
}

/// For each output sample along one axis, the source indices and weights that make it (weights sum to 1).
struct ResamplingWeights {
    let taps: [[(Int, Float)]]

    init(from source: Int, to target: Int) {
        let scale = Double(source) / Double(target)
        if target <= source {
            // Area average: output pixel i covers source interval [i*scale, (i+1)*scale).
            taps = (0..<target).map { i in
                let start = Double(i) * scale, end = Double(i + 1) * scale
                var row: [(Int, Float)] = []
                var j = Int(start)
                while Double(j) < end && j < source {
                    let covered = min(end, Double(j + 1)) - max(start, Double(j))
                    if covered > 1e-9 { row.append((j, Float(covered / scale))) }
                    j += 1
                }
                return row
            }
        } else {
            taps = (0..<target).map { i in
                let centre = (Double(i) + 0.5) * scale - 0.5
                let base = Int((centre).rounded(.down))
                var weights: [Int: Double] = [:]
                for j in (base - 1)...(base + 2) {
                    weights[min(source - 1, max(0, j)), default: 0] += keysCubic(centre - Double(j))
                }
                return weights.sorted { $0.key < $1.key }.map { ($0.key, Float($0.value)) }
            }
        }
    }
}

/// Keys' cubic convolution kernel with a = -0.5 (Catmull-Rom): interpolating, weights sum to 1.
func keysCubic(_ t: Double) -> Double {
    let x = abs(t), a = -0.5
    if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
    if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
    return 0
}
