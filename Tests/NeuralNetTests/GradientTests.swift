import Testing
@testable import NeuralNet

/// Every layer's backward against central finite differences of a scalar probe loss
/// L = Σ r_i · y_i (r fixed and random), so dL/dy = r. Losses are summed in Double; inputs avoid
/// ReLU kinks by construction, so the only error left is Float32 rounding (relative 1e-2 tolerance).
struct GradientCheck {
    static func probeLoss(_ y: Tensor, _ r: [Float]) -> Double {
        zip(y.data, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Checks dx (if the layer propagates it) and every parameter gradient at up to `probes` entries each.
    static func check(_ layer: Layer, input: Tensor, step: Float = 1e-2, tolerance: Double = 1e-2, probes: Int = 24,
                      seed: UInt64 = 7, sourceLocation: SourceLocation = #_sourceLocation) {
        var rng = Xoshiro256StarStar(seed: seed)
        let y = layer.forward(input)
        let r = rng.normalTensor(shape: y.shape).data
        for p in layer.parameters { p.zeroGradient() }
        let dx = layer.backward(Tensor(shape: y.shape, data: r))

        func numeric(_ perturb: (Float) -> Void) -> Double {
            perturb(step)
            let plus = probeLoss(layer.forward(input), r)
            perturb(-2 * step)
            let minus = probeLoss(layer.forward(input), r)
            perturb(step)
            return (plus - minus) / (2 * Double(step))
        }
        func compare(_ analytic: Float, _ numeric: Double, _ what: String) {
            let scale = max(1.0, abs(numeric), abs(Double(analytic)))
            #expect(abs(Double(analytic) - numeric) / scale < tolerance, "\(what): analytic \(analytic), numeric \(numeric)",
                    sourceLocation: sourceLocation)
        }

        if dx.count > 0 {
            var x = input
            for i in indices(count: x.count, probes: probes, rng: &rng) {
                let original = x.data[i]
                x.data[i] = original + step
                let plus = probeLoss(layer.forward(x), r)
                x.data[i] = original - step
                let minus = probeLoss(layer.forward(x), r)
                x.data[i] = original
                compare(dx.data[i], (plus - minus) / (2 * Double(step)), "dx[\(i)]")
            }
        }
        for p in layer.parameters {
            let analytic = p.grad.data
            for i in indices(count: p.value.count, probes: probes, rng: &rng) {
                let n = numeric { p.value.data[i] += $0 }
                compare(analytic[i], n, "\(p.name)[\(i)]")
            }
        }
    }

    static func indices(count: Int, probes: Int, rng: inout Xoshiro256StarStar) -> [Int] {
        count <= probes ? Array(0..<count) : (0..<probes).map { _ in Int(rng.next() % UInt64(count)) }
    }

    /// Values bounded away from zero, so ReLU-like kinks sit outside ±step.
    static func awayFromZero(shape: [Int], seed: UInt64) -> Tensor {
        var rng = Xoshiro256StarStar(seed: seed)
        return Tensor(shape: shape) { buffer in
            for i in buffer.indices {
                let magnitude = 0.1 + rng.nextFloat()
                buffer[i] = rng.next() & 1 == 0 ? magnitude : -magnitude
            }
        }
    }
}

@Suite struct LayerGradientTests {
    @Test func linear() {
        var rng = Xoshiro256StarStar(seed: 1)
        let layer = Linear(7, 5, name: "fc", rng: &rng)
        layer.bias.value = rng.normalTensor(shape: [5])
        GradientCheck.check(layer, input: rng.normalTensor(shape: [3, 7]))
    }

    @Test(arguments: [(stride: 2, padding: 1, kernel: 4), (stride: 1, padding: 0, kernel: 3), (stride: 2, padding: 0, kernel: 3), (stride: 1, padding: 1, kernel: 3)])
    func conv2d(geometry: (stride: Int, padding: Int, kernel: Int)) {
        var rng = Xoshiro256StarStar(seed: 2)
        let layer = Conv2d(2, 3, kernel: geometry.kernel, stride: geometry.stride, padding: geometry.padding, name: "conv", rng: &rng)
        layer.bias.value = rng.normalTensor(shape: [3])
        GradientCheck.check(layer, input: rng.normalTensor(shape: [2, 2, 8, 7]))
    }

    @Test(arguments: [(stride: 2, padding: 1, kernel: 4), (stride: 1, padding: 0, kernel: 3), (stride: 2, padding: 0, kernel: 3), (stride: 1, padding: 1, kernel: 3)])
    func convTranspose2d(geometry: (stride: Int, padding: Int, kernel: Int)) {
        var rng = Xoshiro256StarStar(seed: 3)
        let layer = ConvTranspose2d(3, 2, kernel: geometry.kernel, stride: geometry.stride, padding: geometry.padding,
                                    name: "deconv", rng: &rng)
        layer.bias.value = rng.normalTensor(shape: [2])
        GradientCheck.check(layer, input: rng.normalTensor(shape: [2, 3, 4, 5]))
    }

    @Test func activations() {
        let x = GradientCheck.awayFromZero(shape: [4, 37], seed: 4)  // 148: exercises the 8-wide loops' tails
        GradientCheck.check(ReLU(), input: x)
        GradientCheck.check(LeakyReLU(slope: 0.1), input: x)
        GradientCheck.check(Sigmoid(), input: x)
    }

    @Test func reshapeAndFlattenPassGradientsThrough() {
        var rng = Xoshiro256StarStar(seed: 5)
        let x = rng.normalTensor(shape: [2, 3, 2, 2])
        let flatten = Flatten()
        #expect(flatten.forward(x).shape == [2, 12])
        #expect(flatten.backward(Tensor(zeros: [2, 12])).shape == [2, 3, 2, 2])
        let reshape = Reshape([3, 4])
        #expect(reshape.forward(x).shape == [2, 3, 4])
        GradientCheck.check(Sequential([Flatten(), Reshape([4, 3])]), input: x)
    }

    @Test func sequentialChainsBackward() {
        var rng = Xoshiro256StarStar(seed: 6)
        let net = Sequential([
            Conv2d(1, 4, kernel: 4, stride: 2, padding: 1, name: "c", rng: &rng), Sigmoid(), Flatten(),  // smooth: no kinks near a probe
            Linear(4 * 4 * 4, 6, name: "fc", rng: &rng), Sigmoid(),
        ])
        GradientCheck.check(net, input: rng.normalTensor(shape: [3, 1, 8, 8]), tolerance: 2e-2)
    }

    /// The first layer of a network skips dx: backward returns the empty tensor and still fills dW.
    @Test func firstLayerSkipsInputGradient() {
        var rng = Xoshiro256StarStar(seed: 8)
        let layer = Linear(4, 3, name: "fc", rng: &rng)
        layer.propagatesInputGradient = false
        _ = layer.forward(rng.normalTensor(shape: [2, 4]))
        let dx = layer.backward(Tensor(shape: [2, 3], data: [Float](repeating: 1, count: 6)))
        #expect(dx.count == 0)
        #expect(layer.weight.grad.data.contains { $0 != 0 })
    }
}

@Suite struct ConvolutionShapeTests {
    @Test func outputSizesFollowPyTorch() {
        var rng = Xoshiro256StarStar(seed: 9)
        let conv = Conv2d(1, 2, kernel: 4, stride: 2, padding: 1, name: "c", rng: &rng)
        #expect(conv.forward(Tensor(zeros: [1, 1, 64, 64])).shape == [1, 2, 32, 32])
        let deconv = ConvTranspose2d(2, 1, kernel: 4, stride: 2, padding: 1, name: "d", rng: &rng)
        #expect(deconv.forward(Tensor(zeros: [1, 2, 32, 32])).shape == [1, 1, 64, 64])
    }

    /// A 1x1 input channel with a delta kernel must reproduce the image exactly (im2col indexing).
    @Test func identityKernelCopiesTheImage() {
        var rng = Xoshiro256StarStar(seed: 10)
        let conv = Conv2d(1, 1, kernel: 3, stride: 1, padding: 1, name: "c", rng: &rng)
        conv.weight.value = Tensor(shape: [1, 1, 3, 3], data: [0, 0, 0, 0, 1, 0, 0, 0, 0])
        let x = rng.normalTensor(shape: [2, 1, 5, 6])
        #expect(conv.forward(x).data == x.data)
    }

    /// The upsampling layers' gather gives the scatter's sums to the bit, on grids of 1 to 8 cells a side and onto
    /// an image that already holds values (as col2im adds).
    @Test(arguments: [(1, 1), (1, 3), (2, 2), (5, 3), (8, 8)])
    func halvingCol2imIsTheScatterExactly(gridHeight: Int, gridWidth: Int) {
        var rng = Xoshiro256StarStar(seed: 12)
        let g = PatchGeometry(channels: 3, height: 2 * gridHeight, width: 2 * gridWidth, kernel: 4, stride: 2, padding: 1,
                              gridHeight: gridHeight, gridWidth: gridWidth)
        let ld = 2 * g.gridSize + 1  // columns of a batch: this image's block sits at an offset, in a wider row
        let cols = rng.normalTensor(shape: [g.rows * ld]).data
        let start = rng.normalTensor(shape: [g.channels * g.imageSize]).data
        var gathered = start, scattered = start
        cols.withUnsafeBufferPointer { c in
            gathered.withUnsafeMutableBufferPointer { col2imHalving(g, cols: c.baseAddress! + 1, ldCols: ld, image: $0.baseAddress!) }
            scattered.withUnsafeMutableBufferPointer { col2imScatter(g, cols: c.baseAddress! + 1, ldCols: ld, image: $0.baseAddress!) }
        }
        #expect(gathered.map(\.bitPattern) == scattered.map(\.bitPattern))
        #expect(gathered != start)
    }

    /// ConvTranspose2d is the adjoint of Conv2d with the same weights: <conv(x), y> = <x, convT(y)>.
    @Test func transposedConvolutionIsTheAdjoint() {
        var rng = Xoshiro256StarStar(seed: 11)
        let conv = Conv2d(2, 3, kernel: 4, stride: 2, padding: 1, name: "c", rng: &rng)
        let deconv = ConvTranspose2d(3, 2, kernel: 4, stride: 2, padding: 1, name: "d", rng: &rng)
        deconv.weight.value = conv.weight.value.reshaped([3, 2, 4, 4])  // [Cout,Cin,k,k] read as [Cin',Cout',k,k]
        let x = rng.normalTensor(shape: [1, 2, 8, 8]), y = rng.normalTensor(shape: [1, 3, 4, 4])
        let left = GradientCheck.probeLoss(conv.forward(x), y.data)
        let right = GradientCheck.probeLoss(deconv.forward(y), x.data)
        #expect(abs(left - right) < 1e-4 * max(1, abs(left)))
    }
}
