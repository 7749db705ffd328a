import Foundation

/// One operating point of a codec, averaged over images.
public struct RDPoint: Sendable, Equatable {
    public var bpp: Double
    public var psnr: Double
    public var ssim: Double
    public var setting = ""

    public init(bpp: Double, psnr: Double, ssim: Double, setting: String = "") {
        (self.bpp, self.psnr, self.ssim, self.setting) = (bpp, psnr, ssim, setting)
    }
}

/// Rate-distortion curve arithmetic. Rates are interpolated linearly in log(bpp), as in Bjøntegaard's
/// method; the BD-rate here integrates the piecewise-linear curves rather than fitted cubics, which is
/// steadier on the few, uneven points a codec ladder gives.
public enum RDCurve {
    /// Points no other point beats at once in rate and quality, by increasing rate.
    public static func paretoFront(_ points: [RDPoint], metric: KeyPath<RDPoint, Double>) -> [RDPoint] {
        var front: [RDPoint] = []
        for p in points.sorted(by: { ($0.bpp, -$0[keyPath: metric]) < ($1.bpp, -$1[keyPath: metric]) })
        where front.last.map({ p[keyPath: metric] > $0[keyPath: metric] }) ?? true {
            front.append(p)
        }
        return front
    }

    /// Quality at `bpp` on a front (sorted by rate); nil outside the range the codec covers.
    public static func value(at bpp: Double, on front: [RDPoint], metric: KeyPath<RDPoint, Double>) -> Double? {
        guard let first = front.first, let last = front.last, bpp >= first.bpp, bpp <= last.bpp else { return nil }
        for (a, b) in zip(front, front.dropFirst()) where bpp <= b.bpp {
            let t = b.bpp == a.bpp ? 0 : (log(bpp) - log(a.bpp)) / (log(b.bpp) - log(a.bpp))
            return a[keyPath: metric] + t * (b[keyPath: metric] - a[keyPath: metric])
        }
        return last[keyPath: metric]
    }

    /// log(bpp) at a PSNR on a front, by linear interpolation (PSNR increases along a front).
    static func logRate(atPSNR q: Double, on front: [RDPoint]) -> Double? {
        guard let first = front.first, let last = front.last, q >= first.psnr, q <= last.psnr else { return nil }
        for (a, b) in zip(front, front.dropFirst()) where q <= b.psnr {
            let t = b.psnr == a.psnr ? 0 : (q - a.psnr) / (b.psnr - a.psnr)
            return log(a.bpp) + t * (log(b.bpp) - log(a.bpp))
        }
        return log(last.bpp)
    }

    /// Average rate difference of `test` against `reference` in percent over their common PSNR range
    /// (negative: `test` needs fewer bits for the same quality). Nil when the ranges do not overlap.
    public static func bdRate(_ test: [RDPoint], against reference: [RDPoint]) -> Double? {
        let a = paretoFront(test, metric: \.psnr), b = paretoFront(reference, metric: \.psnr)
        guard let lowA = a.first?.psnr, let highA = a.last?.psnr, let lowB = b.first?.psnr, let highB = b.last?.psnr else { return nil }
        let (low, high) = (max(lowA, lowB), min(highA, highB))
        guard high > low else { return nil }
        let steps = 200
        var sum = 0.0
        for i in 0...steps {
            let q = min(high, low + (high - low) * Double(i) / Double(steps))  // low + (high - low) can round past high
            guard let ra = logRate(atPSNR: q, on: a), let rb = logRate(atPSNR: q, on: b) else { return nil }
            sum += (ra - rb) * (i == 0 || i == steps ? 0.5 : 1)
        }
        return (exp(sum / Double(steps)) - 1) * 100
    }

    /// Mean PSNR difference of `test` over `reference` in dB (positive: `test` is better), averaged uniformly in
    /// log(bpp) over `range` clipped to the rates both fronts cover. Nil when they share no rates.
    public static func bdPSNR(_ test: [RDPoint], against reference: [RDPoint], over range: ClosedRange<Double> = 0.05...0.3) -> Double? {
        let a = paretoFront(test, metric: \.psnr), b = paretoFront(reference, metric: \.psnr)
        guard let lowA = a.first?.bpp, let highA = a.last?.bpp, let lowB = b.first?.bpp, let highB = b.last?.bpp else { return nil }
        let (low, high) = (max(range.lowerBound, lowA, lowB), min(range.upperBound, highA, highB))
        guard high > low else { return nil }
        let steps = 200
        var sum = 0.0
        for i in 0...steps {
            // Clamped: exp(log(high)) can round past the end of the shorter front, where `value` has nothing.
            let bpp = min(high, max(low, exp(log(low) + (log(high) - log(low)) * Double(i) / Double(steps))))
            guard let qa = value(at: bpp, on: a, metric: \.psnr), let qb = value(at: bpp, on: b, metric: \.psnr) else { return nil }
            sum += (qa - qb) * (i == 0 || i == steps ? 0.5 : 1)
        }
        return sum / Double(steps)
    }
}
