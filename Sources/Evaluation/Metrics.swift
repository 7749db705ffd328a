import VAECodecKit

/// Image quality on 8-bit gray planes (values 0...255 held as Float).
public enum Metrics {
    public static func psnr(_ a: GrayImage, _ b: GrayImage) -> Double { Distortion.psnr(a.pixels, b.pixels) }

    /// SSIM as in Wang, Bovik, Sheikh & Simoncelli (2004): an 11x11 Gaussian window with sigma 1.5,
    /// K1 = 0.01, K2 = 0.03, L = 255, statistics over the windows that fit inside the image ("valid"), averaged.
    public static func ssim(_ a: GrayImage, _ b: GrayImage) -> Double {
        precondition(a.width == b.width && a.height == b.height)
        let (w, h, r) = (a.width, a.height, 5)
        guard w > 2 * r, h > 2 * r else { return ssimWhole(a.pixels, b.pixels) }
        let window = gaussianWindow
        let (c1, c2) = (pow2(0.01 * 255), pow2(0.03 * 255))
        // Separable filtering of x, y, x², y², xy: horizontal pass, then vertical, on the valid region.
        let ow = w - 2 * r, oh = h - 2 * r
        func filter(_ f: (Int) -> Double) -> [Double] {
            var horizontal = [Double](repeating: 0, count: ow * h)
            for y in 0..<h {
                for x in 0..<ow {
                    var s = 0.0
                    for k in 0...(2 * r) { s += window[k] * f(y * w + x + k) }
                    horizontal[y * ow + x] = s
                }
            }
            var out = [Double](repeating: 0, count: ow * oh)
            for y in 0..<oh {
                for x in 0..<ow {
                    var s = 0.0
                    for k in 0...(2 * r) { s += window[k] * horizontal[(y + k) * ow + x] }
                    out[y * ow + x] = s
                }
            }
            return out
        }
        let pa = a.pixels, pb = b.pixels
        let mx = filter { Double(pa[$0]) }, my = filter { Double(pb[$0]) }
        let xx = filter { Double(pa[$0]) * Double(pa[$0]) }, yy = filter { Double(pb[$0]) * Double(pb[$0]) }
        let xy = filter { Double(pa[$0]) * Double(pb[$0]) }
        var total = 0.0
        for i in mx.indices {
            let (ux, uy) = (mx[i], my[i])
            let (vx, vy, cxy) = (xx[i] - ux * ux, yy[i] - uy * uy, xy[i] - ux * uy)
            total += (2 * ux * uy + c1) * (2 * cxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        }
        return total / Double(mx.count)
    }

    static let gaussianWindow: [Double] = {
        let raw = (-5...5).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let sum = raw.reduce(0, +)
        return raw.map { $0 / sum }
    }()

    /// One window over everything, for images smaller than the 11x11 window.
    static func ssimWhole(_ a: [Float], _ b: [Float]) -> Double {
        let n = Double(a.count)
        let ux = a.reduce(0.0) { $0 + Double($1) } / n, uy = b.reduce(0.0) { $0 + Double($1) } / n
        var vx = 0.0, vy = 0.0, cxy = 0.0
        for i in a.indices {
            vx += pow2(Double(a[i]) - ux); vy += pow2(Double(b[i]) - uy); cxy += (Double(a[i]) - ux) * (Double(b[i]) - uy)
        }
        let (c1, c2) = (pow2(0.01 * 255), pow2(0.03 * 255))
        return (2 * ux * uy + c1) * (2 * cxy / n + c2) / ((ux * ux + uy * uy + c1) * (vx / n + vy / n + c2))
    }

    static func pow2(_ x: Double) -> Double { x * x }
}

#if canImport(Glibc)
import Glibc
#endif
