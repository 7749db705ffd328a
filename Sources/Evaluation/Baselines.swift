import EntropyCoding
import VAECodecKit

/// One coded image: its size in bits per pixel and its decoded canvas.
public struct CodedImage {
    public var bytes: Int
    public var decoded: GrayImage
}

/// JPEG through libjpeg-turbo in-process, with optimised Huffman tables (its best at a given quality).
public enum JPEGBaseline {
    public static let qualities = [1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]

    /// The whole file, and the entropy-coded scan alone (the bytes after the SOS header, before EOI):
    /// JPEG's ~170 bytes of headers and tables dominate a 64x64 file, so both are reported.
    public static func code(_ canvas: GrayImage, quality: Int) throws -> (file: CodedImage, payloadBytes: Int) {
        let bytes = try ImageCodec.encodeJPEG(canvas.image(), quality: quality, optimize: true)
        let decoded = try ImageCodec.decode(bytes, name: "jpeg").image.gray()
        return (CodedImage(bytes: bytes.count, decoded: decoded), scanBytes(bytes))
    }

    static func scanBytes(_ jpeg: [UInt8]) -> Int {
        var i = 2
        while i + 4 <= jpeg.count {
            guard jpeg[i] == 0xFF else { return jpeg.count }
            let marker = jpeg[i + 1], length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            if marker == 0xDA { return max(0, jpeg.count - (i + 2 + length) - 2) }  // up to the EOI marker
            i += 2 + length
        }
        return jpeg.count
    }
}

/// PNG, lossless: the size a gray canvas costs without any loss.
public enum PNGBaseline {
    public static func bytes(_ canvas: GrayImage) throws -> Int { try ImageCodec.encodePNG(canvas.image()).count }
}

/// A PCA codec with the same machinery as vaecodec: the top-k principal components of the training canvases,
/// uniform quantization of the coefficients with one step for all (the MSE-optimal choice for an orthonormal
/// basis), per-component integer frequency tables fitted on the training coefficients, the same rANS coder,
/// and the same container overhead (3 header bytes at 64x64; the rANS state's check bits cost it what they
/// cost vaecodec). It is the linear version of the VAE codec: a strong baseline.
public final class PCABaseline {
    public let side: Int
    public let mean: [Float]
    /// Orthonormal rows, most variance first, [k][pixels].
    public let components: [[Float]]
    public static let componentCounts = [4, 8, 16, 32, 64, 128, 256]
    public static let steps: [Float] = [1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96]  // in 8-bit pixel units
    private var tables: [String: [SymbolTable]] = [:]
    private let trainingCoefficients: [[Float]]  // [image][component], for the tables

    /// Top components by orthogonal (subspace) iteration on the covariance, all products through sgemm.
    public init(training data: ImageDataset, components k: Int = 256, iterations: Int = 30, maxImages: Int = 10000) {
        side = data.side
        let d = data.pixelsPerImage, n = min(data.count, maxImages)
        let x = Tensor(shape: [n, d]) { data.fill($0, with: ArraySlice(0..<n)) }.data.map { $0 * 255 }
        var mean = [Float](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += x[i * d + j] } }
        mean = mean.map { $0 / Float(n) }
        var centered = x
        for i in 0..<n { for j in 0..<d { centered[i * d + j] -= mean[j] } }
        var covariance = [Float](repeating: 0, count: d * d)
        BLAS.sgemm(transposeA: true, transposeB: false, m: d, n: d, k: n, alpha: 1 / Float(n), a: centered, lda: d,
                   b: centered, ldb: d, beta: 0, c: &covariance, ldc: d)
        let k = min(k, d, n)
        var rng = Xoshiro256StarStar(seed: 1)
        var basis = rng.normalTensor(shape: [k, d]).data  // rows
        var product = [Float](repeating: 0, count: k * d)
        for _ in 0..<iterations {
            // product[k, d] = basis[k, d] · C (C is symmetric)
            BLAS.sgemm(transposeA: false, transposeB: false, m: k, n: d, k: d, a: basis, lda: d, b: covariance, ldb: d,
                       beta: 0, c: &product, ldc: d)
            basis = Self.orthonormalRows(product, rows: k, columns: d)
        }
        self.mean = mean
        components = (0..<k).map { Array(basis[($0 * d)..<(($0 + 1) * d)]) }
        var projected = [Float](repeating: 0, count: n * k)  // [n, k] = centered · basisᵀ
        BLAS.sgemm(transposeA: false, transposeB: true, m: n, n: k, k: d, a: centered, lda: d, b: basis, ldb: d,
                   beta: 0, c: &projected, ldc: k)
        trainingCoefficients = (0..<n).map { Array(projected[($0 * k)..<(($0 + 1) * k)]) }
    }

    /// Modified Gram-Schmidt in Double, row by row (the first rows converge to the leading eigenvectors).
    static func orthonormalRows(_ m: [Float], rows: Int, columns: Int) -> [Float] {
        var q = m.map(Double.init)
        for r in 0..<rows {
            for p in 0..<r {
                var dot = 0.0
                for j in 0..<columns { dot += q[r * columns + j] * q[p * columns + j] }
                for j in 0..<columns { q[r * columns + j] -= dot * q[p * columns + j] }
            }
            var norm = 0.0
            for j in 0..<columns { norm += q[r * columns + j] * q[r * columns + j] }
            let inverse = 1 / max(norm.squareRoot(), 1e-30)
            for j in 0..<columns { q[r * columns + j] *= inverse }
        }
        return q.map(Float.init)
    }

    public func coefficients(_ canvas: GrayImage, count k: Int) -> [Float] {
        (0..<k).map { c in
            var s: Float = 0
            for j in 0..<mean.count { s += (canvas.pixels[j] - mean[j]) * components[c][j] }
            return s
        }
    }

    func symbolTables(k: Int, step: Float) throws -> [SymbolTable] {
        let key = "\(k)/\(step)"
        if let cached = tables[key] { return cached }
        let built = try (0..<k).map { c in
            try SymbolTable.fitted(to: trainingCoefficients.map { Int32(($0[c] / step).rounded()) })
        }
        tables[key] = built
        return built
    }

    /// Codes one canvas with k components and one step: rANS payload plus a vaecodec header's bytes.
    public func code(_ canvas: GrayImage, components k: Int, step: Float) throws -> CodedImage {
        let c = coefficients(canvas, count: k)
        let symbols = c.map { Int32(($0 / step).rounded()) }
        let payload = QuantizedSymbolCoder.encode(values: symbols, tables: try symbolTables(k: k, step: step))
        var pixels = mean
        for (i, q) in symbols.enumerated() {
            let v = Float(q) * step
            for j in 0..<pixels.count { pixels[j] += v * components[i][j] }
        }
        let decoded = GrayImage(width: side, height: side, pixels: pixels.map { min(max($0.rounded(), 0), 255) })
        // The same header as vaecodec's, which is generous: naming one of PCA's 91 (k, step) pairs takes 7 bits, the rung 4.
        let header = ContainerHeader(formatHint: .png, rung: 0, modelID: 0, width: canvas.width, height: canvas.height)
        return CodedImage(bytes: payload.count + header.byteCount, decoded: decoded)
    }
}
