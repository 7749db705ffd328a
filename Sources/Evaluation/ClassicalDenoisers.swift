import VAECodecKit

/// The classical denoisers the VAE is compared with, on 8-bit gray planes.
public enum ClassicalDenoisers {
    /// 3x3 median with clamped edges.
    public static func median3x3(_ image: GrayImage) -> GrayImage {
        let (w, h) = (image.width, image.height)
        var out = [Float](repeating: 0, count: w * h)
        var window = [Float](repeating: 0, count: 9)
        for y in 0..<h {
            for x in 0..<w {
                var i = 0
                for dy in -1...1 { for dx in -1...1 { window[i] = image.pixels[min(max(y + dy, 0), h - 1) * w + min(max(x + dx, 0), w - 1)]; i += 1 } }
                window.sort()
                out[y * w + x] = window[4]
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    /// Non-local means (Buades, Coll & Morel 2005) with the parameters of Buades et al.'s IPOL 2011 study for
    /// gray images: patch 3x3 up to sigma 15, 5x5 up to 30, 7x7 up to 45, 9x9 beyond; filtering parameter
    /// h = 0.4 sigma (0.35 sigma above 30); weights exp(-max(d^2 - 2 sigma^2, 0) / h^2) on the mean squared
    /// patch distance d^2. The search window is 15x15 (a 64x64 image has little more to offer).
    public static func nonLocalMeans(_ image: GrayImage, sigma: Double, searchRadius: Int = 7) -> GrayImage {
        let patchRadius = sigma <= 15 ? 1 : sigma <= 30 ? 2 : sigma <= 45 ? 3 : 4
        let h = (sigma <= 30 ? 0.4 : 0.35) * sigma
        let (w, ht) = (image.width, image.height)
        let p = image.pixels
        @inline(__always) func at(_ x: Int, _ y: Int) -> Float { p[min(max(y, 0), ht - 1) * w + min(max(x, 0), w - 1)] }
        let patchArea = Float((2 * patchRadius + 1) * (2 * patchRadius + 1))
        let (twoSigma2, inverseH2) = (Float(2 * sigma * sigma), Float(1 / max(h * h, 1e-12)))
        var out = [Float](repeating: 0, count: w * ht)
        for y in 0..<ht {
            for x in 0..<w {
                var weightSum: Float = 0, valueSum: Float = 0, maxWeight: Float = 0
                for sy in max(0, y - searchRadius)...min(ht - 1, y + searchRadius) {
                    for sx in max(0, x - searchRadius)...min(w - 1, x + searchRadius) where sx != x || sy != y {
                        var d: Float = 0
                        for py in -patchRadius...patchRadius {
                            for px in -patchRadius...patchRadius {
                                let diff = at(x + px, y + py) - at(sx + px, sy + py)
                                d += diff * diff
                            }
                        }
                        let weight = expf(-max(d / patchArea - twoSigma2, 0) * inverseH2)
                        maxWeight = max(maxWeight, weight)
                        weightSum += weight
                        valueSum += weight * p[sy * w + sx]
                    }
                }
                // The centre pixel takes the largest weight any other pixel got, as in the reference code.
                let centre = max(maxWeight, 1e-6)
                out[y * w + x] = (valueSum + centre * p[y * w + x]) / (weightSum + centre)
            }
        }
        return GrayImage(width: w, height: ht, pixels: out)
    }
}

#if canImport(Glibc)
import Glibc
#endif
