import Foundation
import Testing
@testable import NeuralNet
import SIMDSupport

@Suite struct AdamTests {
    /// Hand-worked: g = 0.5 ⇒ m = 0.05, v = 2.5e-4; bias-corrected m̂ = 0.5, v̂ = 0.25 ⇒ step = lr·0.5/0.5 = lr.
    /// Second step with g = -1: m = -0.055, v = 0.00124975; m̂ = -0.055/0.19, v̂ = 0.00124975/0.001999.
    @Test func matchesHandWorkedSteps() {
        let p = Parameter(name: "w", value: Tensor(shape: [1], data: [1]))
        let adam = Adam(parameters: [p], learningRate: 0.1)
        p.grad.data[0] = 0.5
        adam.step()
        #expect(abs(p.value.data[0] - 0.9) < 1e-6)
        p.grad.data[0] = -1
        adam.step()
        let mHat = -0.055 / 0.19, vHat = 0.00124975 / 0.001999
        let expected = 0.9 - 0.1 * mHat / (vHat.squareRoot() + 1e-8)
        #expect(abs(Double(p.value.data[0]) - expected) < 1e-5)
        #expect(adam.stepCount == 2)
    }

    /// 13 elements: one 8-wide block plus a tail, each element updated independently.
    @Test func vectorLoopCoversTheTail() {
        let p = Parameter(name: "w", value: Tensor(zeros: [13]))
        let adam = Adam(parameters: [p], learningRate: 0.01)
        p.grad.data = (0..<13).map { Float($0 % 2 == 0 ? 1 : -1) }
        adam.step()
        for i in 0..<13 { #expect(abs(p.value.data[i] - (i % 2 == 0 ? -0.01 : 0.01)) < 1e-6) }
    }

    /// The network optimiser and the latent fits follow one rule: three steps of `Adam` on 13 weights land where
    /// `AdamStep` takes each value alone (to the SIMD square root's 2e-7).
    @Test func networkAndLatentUpdatesAgree() {
        let p = Parameter(name: "w", value: Tensor(shape: [13], data: (0..<13).map { Float($0) * 0.1 - 0.6 }))
        let adam = Adam(parameters: [p], learningRate: 0.05)
        var x = p.value.data, m = [Float](repeating: 0, count: 13), v = m
        for step in 1...3 {
            let g = (0..<13).map { Float(($0 * 7 + step * 3) % 11) * 0.37 - 1.5 }
            p.grad.data = g
            adam.step()
            let rule = AdamStep(step: step, learningRate: 0.05)
            for i in 0..<13 { rule.apply(&x[i], gradient: g[i], m: &m[i], v: &v[i]) }
        }
        for i in 0..<13 { #expect(abs(p.value.data[i] - x[i]) < 1e-6, "element \(i)") }
    }

    @Test func clipsTheGlobalGradientNorm() {
        let a = Parameter(name: "a", value: Tensor(zeros: [2])), b = Parameter(name: "b", value: Tensor(zeros: [1]))
        let adam = Adam(parameters: [a, b], learningRate: 1, maxGradientNorm: 1)
        a.grad.data = [3, 4]
        b.grad.data = [0]
        let norm = adam.step()
        #expect(abs((norm ?? 0) - 5) < 1e-9)
        // After clipping the first moment holds 0.1·g/5, so m̂ = g/5: the direction survives.
        #expect(abs(adam.m[0][0] - 0.1 * 0.6) < 1e-6 && abs(adam.m[0][1] - 0.1 * 0.8) < 1e-6)
    }
}

@Suite struct KernelTests {
    static func operands(_ m: Int, _ n: Int, _ k: Int, seed: UInt64) -> (a: [Float], b: [Float]) {
        var rng = Xoshiro256StarStar(seed: seed)
        return (rng.normalTensor(shape: [m * k]).data, rng.normalTensor(shape: [k * n]).data)
    }

    static func product(_ ta: Bool, _ tb: Bool, m: Int, n: Int, k: Int, a: [Float], b: [Float], c: [Float], alpha: Float = 1, beta: Float) -> [Float] {
        var c = c
        BLAS.sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: ta ? m : k, b: b, ldb: tb ? k : n,
                   beta: beta, c: &c, ldc: n)
        return c
    }

    @Test(arguments: [(false, false), (true, false), (false, true)])
    func sgemmMatchesTheNaiveProduct(_ ta: Bool, _ tb: Bool) {
        let (m, n, k) = (13, 70, 37)
        let (a, b) = Self.operands(m, n, k, seed: 1)
        let c = Self.product(ta, tb, m: m, n: n, k: k, a: a, b: b, c: [Float](repeating: 1, count: m * n), alpha: 0.5, beta: 2)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for l in 0..<k { sum += Double(ta ? a[l * m + i] : a[i * k + l]) * Double(tb ? b[j * k + l] : b[l * n + j]) }
                #expect(abs(Double(c[i * n + j]) - (0.5 * sum + 2)) < 1e-4)
            }
        }
    }

    /// The order of summation promised in vc_gemm.h, written out in Swift: bit for bit, tails and all.
    @Test(arguments: [(false, false), (true, false), (false, true)])
    func sgemmSumsInItsDocumentedOrder(_ ta: Bool, _ tb: Bool) {
        let (m, n, k) = (13, 70, 37)
        let (a, b) = Self.operands(m, n, k, seed: 2)
        let c = Self.product(ta, tb, m: m, n: n, k: k, a: a, b: b, c: [Float](repeating: 0, count: m * n), beta: 0)
        for i in 0..<m {
            for j in 0..<n {
                let x = { (l: Int) in ta ? a[l * m + i] : a[i * k + l] }, y = { (l: Int) in tb ? b[j * k + l] : b[l * n + j] }
                var expected: Float = 0
                if tb {
                    var lanes = [Float](repeating: 0, count: 16)
                    for l in 0..<k { lanes[l % 16].addProduct(x(l), y(l)) }
                    for width in [8, 4, 2, 1] { for l in 0..<width { lanes[l] += lanes[l + width] } }
                    expected = lanes[0]
                } else {
                    for l in 0..<k { expected.addProduct(x(l), y(l)) }
                }
                #expect(c[i * n + j].bitPattern == expected.bitPattern, "(\(i), \(j))")
            }
        }
    }

    /// A row's result must not depend on the rows and columns computed with it, nor on the threads: this is what lets
    /// the codec batch images and still write the same bytes for each.
    @Test(arguments: [(false, false), (true, false), (false, true)])
    func resultsDoNotDependOnTheBatchOrTheThreads(_ ta: Bool, _ tb: Bool) {
        let (m, n, k) = (40, 600, 300)
        let (a, b) = Self.operands(m, n, k, seed: 3)
        let zeros = [Float](repeating: 0, count: m * n)
        let whole = BLAS.withThreads(1) { Self.product(ta, tb, m: m, n: n, k: k, a: a, b: b, c: zeros, beta: 0) }
        #expect(BLAS.withThreads(2) { Self.product(ta, tb, m: m, n: n, k: k, a: a, b: b, c: zeros, beta: 0) } == whole)
        // Rows 7..<16 and columns 33..<100 on their own.
        let (rows, cols) = (7..<16, 33..<100)
        let subA: [Float] = ta ? (0..<k).flatMap { l in rows.map { a[l * m + $0] } } : rows.flatMap { i in a[(i * k)..<(i * k + k)] }
        let subB: [Float] = tb ? cols.flatMap { j in b[(j * k)..<(j * k + k)] } : (0..<k).flatMap { l in cols.map { b[l * n + $0] } }
        let part = Self.product(ta, tb, m: rows.count, n: cols.count, k: k, a: subA, b: subB,
                                c: [Float](repeating: 0, count: rows.count * cols.count), beta: 0)
        for (r, i) in rows.enumerated() {
            for (q, j) in cols.enumerated() { #expect(part[r * cols.count + q].bitPattern == whole[i * n + j].bitPattern) }
        }
    }

    @Test func vectorisedExpLogAndSigmoidAreAccurate() {
        var worstExp = 0.0, worstLog = 0.0, worstSigmoid = 0.0
        for i in 0..<4000 {
            let x = Float(i) * -0.025  // 0 ... -100
            let e = Float(i) / 4000      // 0 ... 1
            let s = Float(i - 2000) * 0.02
            let exact = exp(Double(x))
            worstExp = max(worstExp, abs(Double(expNonPositive(Float8(repeating: x))[0]) - exact) / max(exact, 1e-30))
            worstLog = max(worstLog, abs(Double(log1pUnitInterval(Float8(repeating: e))[0]) - log1p(Double(e))))
            worstSigmoid = max(worstSigmoid, abs(Double(sigmoid(Float8(repeating: s))[0]) - 1 / (1 + exp(-Double(s)))))
        }
        #expect(worstExp < 1e-5)  // relative, above the clamp at -87
        #expect(worstLog < 1e-6)
        #expect(worstSigmoid < 1e-6)
        #expect(abs(squareRoot(Float8(repeating: 2))[0] - Float(2).squareRoot()) < 1e-6)
        #expect(squareRoot(Float8(repeating: 0))[0] == 0)
    }

    @Test func bernoulliLossIsStableForExtremeLogits() {
        let logits: [Float] = [0, 100, -100, 100, -100, 2]
        let targets: [Float] = [1, 1, 1, 0, 0, 0.25]
        var grad = [Float](repeating: 0, count: 6)
        let total = ElementwiseLoss.bernoulliWithLogits(logits: logits, targets: targets, count: 6, gradientScale: 1, dLogits: &grad)
        // log 2 + 0 + 100 + 100 + 0 + (softplus(2) - 0.25·2)
        let expected = log(2.0) + 200 + (log1p(exp(2.0)) - 0.5)
        #expect(abs(total - expected) < 1e-4)
        #expect(abs(grad[0] + 0.5) < 1e-6 && abs(grad[2] + 1) < 1e-6 && abs(grad[3] - 1) < 1e-6)
    }
}

@Suite struct RandomTests {
    @Test func seededStreamsRepeatAndStateRoundTrips() {
        var a = Xoshiro256StarStar(seed: 42), b = Xoshiro256StarStar(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var c = Xoshiro256StarStar(seed: 1)
        c.stateWords = a.stateWords
        #expect(c.next() == a.next())
    }

    @Test func normalsHaveUnitMomentsAndOddCountsWork() {
        var rng = Xoshiro256StarStar(seed: 3)
        let x = rng.normalTensor(shape: [100_001]).data
        let mean = x.reduce(0.0) { $0 + Double($1) } / Double(x.count)
        let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(x.count)
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.02)
    }

    @Test func initialisationScales() {
        var rng = Xoshiro256StarStar(seed: 4)
        let he = Linear(1000, 200, name: "he", rng: &rng).weight.value.data
        let std = (he.reduce(0.0) { $0 + Double($1 * $1) } / Double(he.count)).squareRoot()
        #expect(abs(std - (2.0 / 1000).squareRoot()) < 0.002)
        let xavier = Linear(100, 50, name: "x", initialization: .xavier, rng: &rng).weight.value.data
        let bound = Float((6.0 / 150).squareRoot())
        #expect(xavier.allSatisfy { abs($0) <= bound } && xavier.contains { abs($0) > 0.9 * bound })
    }
}
