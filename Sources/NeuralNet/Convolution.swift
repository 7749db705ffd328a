/// Geometry shared by im2col and col2im. The "image" is the large side (Conv2d input,
/// ConvTranspose2d output); the "grid" is the set of kernel positions (Conv2d output,
/// ConvTranspose2d input). A column matrix has `rows` = channels·k·k rows, one column per grid point.
struct PatchGeometry {
    let channels: Int, height: Int, width: Int
    let kernel: Int, stride: Int, padding: Int
    let gridHeight: Int, gridWidth: Int

    var rows: Int { channels * kernel * kernel }
    var gridSize: Int { gridHeight * gridWidth }
    var imageSize: Int { height * width }

    /// Kernel offsets whose tap lands outside the image read zero padding; the valid range of
    /// grid columns for tap kw is computed once so the inner copy loop has no branch.
    @inline(__always)
    func validGridColumns(kw: Int) -> Range<Int> {
        let low = max(0, ceilDivide(padding - kw, stride))
        let high = min(gridWidth, floorDivide(width - 1 + padding - kw, stride) + 1)
        return low..<max(low, high)
    }
}

@inline(__always) private func floorDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
@inline(__always) private func ceilDivide(_ a: Int, _ b: Int) -> Int { -floorDivide(-a, b) }

/// Copies every k×k patch of one image into column `columnOffset + gridIndex` of a
/// matrix with leading dimension `ldCols`.
func im2col(_ g: PatchGeometry, image: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>, ldCols: Int) {
    let (k, s, p) = (g.kernel, g.stride, g.padding)
    // Wrapping arithmetic and while loops: the indices are in range by construction, and overflow checks would keep
    // these loops from vectorising.
    for c in 0..<g.channels {
        for kh in 0..<k {
            for kw in 0..<k {
                let row = cols + ((c &* k &+ kh) &* k &+ kw) &* ldCols
                let valid = g.validGridColumns(kw: kw)
                let (low, high) = (valid.lowerBound, valid.upperBound)
                for gh in 0..<g.gridHeight {
                    let dst = row + gh &* g.gridWidth
                    let ih = gh &* s &- p &+ kh
                    if ih < 0 || ih >= g.height || valid.isEmpty {
                        dst.update(repeating: 0, count: g.gridWidth)
                        continue
                    }
                    let src = image + ((c &* g.height &+ ih) &* g.width &+ (kw &- p))
                    dst.update(repeating: 0, count: low)
                    if s == 1 {
                        (dst + low).update(from: src + low, count: high &- low)
                    } else if s == 2 {
                        // A constant stride lets the copy vectorise: the decoder's upsampling layers go through here.
                        var gw = low
                        while gw < high { dst[gw] = src[gw &* 2]; gw &+= 1 }
                    } else {
                        var gw = low
                        while gw < high { dst[gw] = src[gw &* s]; gw &+= 1 }
                    }
                    (dst + high).update(repeating: 0, count: g.gridWidth &- high)
                }
            }
        }
    }
}

/// The adjoint of im2col: adds each column entry back onto the image pixel it was read from.
func col2im(_ g: PatchGeometry, cols: UnsafePointer<Float>, ldCols: Int, image: UnsafeMutablePointer<Float>) {
    if g.kernel == 4 && g.stride == 2 && g.padding == 1 && g.height == 2 * g.gridHeight && g.width == 2 * g.gridWidth {
        col2imHalving(g, cols: cols, ldCols: ldCols, image: image)
    } else {
        col2imScatter(g, cols: cols, ldCols: ldCols, image: image)
    }
}

/// col2im as a scatter: any geometry.
func col2imScatter(_ g: PatchGeometry, cols: UnsafePointer<Float>, ldCols: Int, image: UnsafeMutablePointer<Float>) {
    let (k, s, p) = (g.kernel, g.stride, g.padding)
    for c in 0..<g.channels {
        for kh in 0..<k {
            for kw in 0..<k {
                let row = cols + ((c &* k &+ kh) &* k &+ kw) &* ldCols
                let valid = g.validGridColumns(kw: kw)
                if valid.isEmpty { continue }
                let (low, high) = (valid.lowerBound, valid.upperBound)
                for gh in 0..<g.gridHeight {
                    let ih = gh &* s &- p &+ kh
                    if ih < 0 || ih >= g.height { continue }
                    let src = row + gh &* g.gridWidth
                    let dst = image + ((c &* g.height &+ ih) &* g.width &+ (kw &- p))
                    var gw = low
                    if s == 1 {
                        while gw < high { dst[gw] += src[gw]; gw &+= 1 }
                    } else {
                        while gw < high { dst[gw &* s] += src[gw]; gw &+= 1 }
                    }
                }
            }
        }
    }
}

/// col2im for kernel 4, stride 2, padding 1 onto an image twice the grid's size (the decoders' upsampling layers),
/// as a gather. Output pixel (2m + a, 2n + b) has four taps: rows kh = 1 (grid row m) and 3 (m - 1) when a = 0, 0
/// (m + 1) and 2 (m) when a = 1, and likewise columns. It adds them in the scatter's order (kh, then kw), so the
/// sums are the same to the bit; a tap outside the grid adds +0, which changes no sum (none is -0: each starts
/// from the image's value). Each pixel is written once, and the row loop vectorises.
func col2imHalving(_ g: PatchGeometry, cols: UnsafePointer<Float>, ldCols: Int, image: UnsafeMutablePointer<Float>) {
    let (gh, gw) = (g.gridHeight, g.gridWidth)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: gw) { zeros in
        zeros.initialize(repeating: 0)
        let zero = UnsafePointer(zeros.baseAddress!)
        for c in 0..<g.channels {
            // Row (kh, kw) of this channel at grid row ih, or zeros outside the grid.
            func tap(_ kh: Int, _ kw: Int, _ ih: Int) -> UnsafePointer<Float> {
                guard ih >= 0 && ih < gh else { return zero }
                let row: Int = (c &* 4 &+ kh) &* 4 &+ kw
                return cols + (row &* ldCols &+ ih &* gw)
            }
            for oh in 0..<g.height {
                let m = oh >> 1
                let (khP, ihP, khQ, ihQ) = oh & 1 == 0 ? (1, m, 3, m &- 1) : (0, m &+ 1, 2, m)
                let (p0, p1, p2, p3) = (tap(khP, 0, ihP), tap(khP, 1, ihP), tap(khP, 2, ihP), tap(khP, 3, ihP))
                let (q0, q1, q2, q3) = (tap(khQ, 0, ihQ), tap(khQ, 1, ihQ), tap(khQ, 2, ihQ), tap(khQ, 3, ihQ))
                let out = image + (c &* g.height &+ oh) &* g.width
                // Even columns 2n: kw = 1 (column n), 3 (n - 1); odd columns 2n + 1: kw = 0 (n + 1), 2 (n).
                func edge(_ n: Int) {
                    let (before, after) = (n > 0 ? n &- 1 : -1, n &+ 1 < gw ? n &+ 1 : -1)
                    func at(_ row: UnsafePointer<Float>, _ i: Int) -> Float { i >= 0 ? row[i] : 0 }
                    var even: Float = out[2 &* n]
                    even += p1[n]; even += at(p3, before); even += q1[n]; even += at(q3, before)
                    var odd: Float = out[2 &* n &+ 1]
                    odd += at(p0, after); odd += p2[n]; odd += at(q0, after); odd += q2[n]
                    (out[2 &* n], out[2 &* n &+ 1]) = (even, odd)
                }
                edge(0)
                var n = 1
                while n < gw &- 1 {
                    var even: Float = out[2 &* n]
                    even += p1[n]; even += p3[n &- 1]; even += q1[n]; even += q3[n &- 1]
                    var odd: Float = out[2 &* n &+ 1]
                    odd += p0[n &+ 1]; odd += p2[n]; odd += q0[n &+ 1]; odd += q2[n]
                    (out[2 &* n], out[2 &* n &+ 1]) = (even, odd)
                    n &+= 1
                }
                if gw > 1 { edge(gw &- 1) }
            }
        }
    }
}

/// Convolutions process several samples per GEMM so small late layers (4×4 grids) still give
/// BLAS wide matrices; the cap keeps a column buffer near L2/L3 size.
private func samplesPerGEMM(batch: Int, rows: Int, gridSize: Int) -> Int {
    max(1, min(batch, (1 << 21) / max(1, rows * gridSize)))
}

/// [count, C, P] (batch-major, a slice of a tensor) → [C, count·P] (channel-major GEMM operand).
@inline(__always)
private func gatherChannelMajor(_ src: UnsafePointer<Float>, count: Int, channels: Int, pixels: Int,
                                _ dst: UnsafeMutablePointer<Float>) {
    let ld = count * pixels
    for n in 0..<count {
        for c in 0..<channels {
            (dst + c * ld + n * pixels).update(from: src + (n * channels + c) * pixels, count: pixels)
        }
    }
}

@inline(__always)
private func scatterBatchMajor(_ src: UnsafePointer<Float>, count: Int, channels: Int, pixels: Int,
                               _ dst: UnsafeMutablePointer<Float>) {
    let ld = count * pixels
    for n in 0..<count {
        for c in 0..<channels {
            (dst + (n * channels + c) * pixels).update(from: src + c * ld + n * pixels, count: pixels)
        }
    }
}

/// Adds per-channel sums of a [N, C, P] tensor into `biasGrad`.
private func accumulateChannelSums(_ dy: UnsafePointer<Float>, batch: Int, channels: Int, pixels: Int,
                                   into biasGrad: UnsafeMutablePointer<Float>) {
    for n in 0..<batch {
        for c in 0..<channels {
            let plane = dy + (n * channels + c) * pixels
            var sum: Float = 0
            for i in 0..<pixels { sum += plane[i] }
            biasGrad[c] += sum
        }
    }
}

/// 2-D convolution (cross-correlation, as in PyTorch) on [N, Cin, H, W].
/// Weight [Cout, Cin, k, k], so y_n = W[Cout, Cin·k·k] · im2col(x_n) + b.
public final class Conv2d: TrainableLayer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter
    public var propagatesInputGradient = true
    public var accumulatesParameterGradients = true
    private var input = Tensor.none

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                name: String, initialization: WeightInitialization = .he, rng: inout Xoshiro256StarStar) {
        (self.inChannels, self.outChannels, self.kernel, self.stride, self.padding) =
            (inChannels, outChannels, kernel, stride, padding)
        let fanIn = inChannels * kernel * kernel
        weight = Parameter(name: name + ".weight",
                           value: initialWeights(shape: [outChannels, inChannels, kernel, kernel], fanIn: fanIn,
                                                 fanOut: outChannels * kernel * kernel / (stride * stride),
                                                 scheme: initialization, rng: &rng))
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [outChannels]))
    }

    public var parameters: [Parameter] { [weight, bias] }

    func geometry(height: Int, width: Int) -> PatchGeometry {
        PatchGeometry(channels: inChannels, height: height, width: width, kernel: kernel, stride: stride, padding: padding,
                      gridHeight: (height + 2 * padding - kernel) / stride + 1,
                      gridWidth: (width + 2 * padding - kernel) / stride + 1)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "Conv2d(\(inChannels)→\(outChannels)): input \(x.shape)")
        input = x
        let batch = x.shape[0]
        let g = geometry(height: x.shape[2], width: x.shape[3])
        let cout = outChannels
        let group = samplesPerGEMM(batch: batch, rows: g.rows, gridSize: g.gridSize)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.rows * group * g.gridSize)
        let product = UnsafeMutablePointer<Float>.allocate(capacity: cout * group * g.gridSize)
        defer { cols.deallocate(); product.deallocate() }

        return Tensor(shape: [batch, cout, g.gridHeight, g.gridWidth]) { y in
            x.data.withUnsafeBufferPointer { xp in
                weight.value.data.withUnsafeBufferPointer { w in
                    bias.value.data.withUnsafeBufferPointer { b in
                        for start in Swift.stride(from: 0, to: batch, by: group) {
                            let count = min(group, batch - start)
                            let ld = count * g.gridSize
                            for n in 0..<count {
                                im2col(g, image: xp.baseAddress! + (start + n) * inChannels * g.imageSize,
                                       cols: cols + n * g.gridSize, ldCols: ld)
                            }
                            BLAS.sgemm(transposeA: false, transposeB: false, m: cout, n: ld, k: g.rows,
                                       a: w.baseAddress!, lda: g.rows, b: cols, ldb: ld, beta: 0, c: product, ldc: ld)
                            // Reordering to batch-major is a pass we need anyway; the bias rides along.
                            for n in 0..<count {
                                for c in 0..<cout {
                                    let src = product + c * ld + n * g.gridSize
                                    let dst = y.baseAddress! + ((start + n) * cout + c) * g.gridSize
                                    let bc = b[c]
                                    for i in 0..<g.gridSize { dst[i] = src[i] + bc }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let batch = input.shape[0]
        let g = geometry(height: input.shape[2], width: input.shape[3])
        let cout = outChannels
        precondition(dy.shape == [batch, cout, g.gridHeight, g.gridWidth], "Conv2d backward: dy \(dy.shape)")
        let group = samplesPerGEMM(batch: batch, rows: g.rows, gridSize: g.gridSize)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.rows * group * g.gridSize)
        let dyChannelMajor = UnsafeMutablePointer<Float>.allocate(capacity: cout * group * g.gridSize)
        defer { cols.deallocate(); dyChannelMajor.deallocate() }
        var dx = propagatesInputGradient ? Tensor(zeros: input.shape) : Tensor.none

        dy.data.withUnsafeBufferPointer { dyp in
            if accumulatesParameterGradients {
                bias.grad.data.withUnsafeMutableBufferPointer { db in
                    accumulateChannelSums(dyp.baseAddress!, batch: batch, channels: cout, pixels: g.gridSize, into: db.baseAddress!)
                }
            }
            input.data.withUnsafeBufferPointer { xp in
                for start in Swift.stride(from: 0, to: batch, by: group) {
                    let count = min(group, batch - start)
                    let ld = count * g.gridSize
                    gatherChannelMajor(dyp.baseAddress! + start * cout * g.gridSize, count: count, channels: cout,
                                       pixels: g.gridSize, dyChannelMajor)
                    if accumulatesParameterGradients {
                        for n in 0..<count {
                            im2col(g, image: xp.baseAddress! + (start + n) * inChannels * g.imageSize,
                                   cols: cols + n * g.gridSize, ldCols: ld)
                        }
                        weight.grad.data.withUnsafeMutableBufferPointer { dw in
                            // dW[Cout, rows] += dy[Cout, ld] · colsᵀ
                            BLAS.sgemm(transposeA: false, transposeB: true, m: cout, n: g.rows, k: ld,
                                       a: dyChannelMajor, lda: ld, b: cols, ldb: ld, beta: 1, c: dw.baseAddress!, ldc: g.rows)
                        }
                    }
                    if propagatesInputGradient {
                        weight.value.data.withUnsafeBufferPointer { w in
                            // dcols[rows, ld] = Wᵀ · dy
                            BLAS.sgemm(transposeA: true, transposeB: false, m: g.rows, n: ld, k: cout,
                                       a: w.baseAddress!, lda: g.rows, b: dyChannelMajor, ldb: ld, beta: 0, c: cols, ldc: ld)
                        }
                        dx.data.withUnsafeMutableBufferPointer { dxp in
                            for n in 0..<count {
                                col2im(g, cols: cols + n * g.gridSize, ldCols: ld,
                                       image: dxp.baseAddress! + (start + n) * inChannels * g.imageSize)
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// Transposed convolution (the adjoint of Conv2d's input map) on [N, Cin, H, W].
/// Weight [Cin, Cout, k, k] as in PyTorch; output side (H − 1)·stride − 2·padding + k.
public final class ConvTranspose2d: TrainableLayer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter
    public var propagatesInputGradient = true
    public var accumulatesParameterGradients = true
    private var input = Tensor.none

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                name: String, initialization: WeightInitialization = .he, rng: inout Xoshiro256StarStar) {
        (self.inChannels, self.outChannels, self.kernel, self.stride, self.padding) =
            (inChannels, outChannels, kernel, stride, padding)
        // Each output pixel sees about Cin·(k/stride)² inputs: that is the fan-in that sets its variance.
        let fanIn = max(1, inChannels * kernel * kernel / (stride * stride))
        weight = Parameter(name: name + ".weight",
                           value: initialWeights(shape: [inChannels, outChannels, kernel, kernel], fanIn: fanIn,
                                                 fanOut: outChannels * kernel * kernel,
                                                 scheme: initialization, rng: &rng))
        bias = Parameter(name: name + ".bias", value: Tensor(zeros: [outChannels]))
    }

    public var parameters: [Parameter] { [weight, bias] }

    func geometry(inputHeight: Int, inputWidth: Int) -> PatchGeometry {
        PatchGeometry(channels: outChannels,
                      height: (inputHeight - 1) * stride - 2 * padding + kernel,
                      width: (inputWidth - 1) * stride - 2 * padding + kernel,
                      kernel: kernel, stride: stride, padding: padding,
                      gridHeight: inputHeight, gridWidth: inputWidth)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "ConvTranspose2d(\(inChannels)→\(outChannels)): input \(x.shape)")
        input = x
        let batch = x.shape[0]
        let g = geometry(inputHeight: x.shape[2], inputWidth: x.shape[3])
        let cin = inChannels
        let group = samplesPerGEMM(batch: batch, rows: g.rows, gridSize: g.gridSize)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.rows * group * g.gridSize)
        let xChannelMajor = UnsafeMutablePointer<Float>.allocate(capacity: cin * group * g.gridSize)
        defer { cols.deallocate(); xChannelMajor.deallocate() }

        var y = Tensor(zeros: [batch, outChannels, g.height, g.width])
        y.data.withUnsafeMutableBufferPointer { yp in
            x.data.withUnsafeBufferPointer { xp in
                weight.value.data.withUnsafeBufferPointer { w in
                    for start in Swift.stride(from: 0, to: batch, by: group) {
                        let count = min(group, batch - start)
                        let ld = count * g.gridSize
                        gatherChannelMajor(xp.baseAddress! + start * cin * g.gridSize, count: count, channels: cin,
                                           pixels: g.gridSize, xChannelMajor)
                        // cols[Cout·k·k, ld] = Wᵀ · x
                        BLAS.sgemm(transposeA: true, transposeB: false, m: g.rows, n: ld, k: cin,
                                   a: w.baseAddress!, lda: g.rows, b: xChannelMajor, ldb: ld, beta: 0, c: cols, ldc: ld)
                        for n in 0..<count {
                            col2im(g, cols: cols + n * g.gridSize, ldCols: ld,
                                   image: yp.baseAddress! + (start + n) * outChannels * g.imageSize)
                        }
                    }
                }
            }
            bias.value.data.withUnsafeBufferPointer { b in
                for n in 0..<batch {
                    for c in 0..<outChannels {
                        let plane = yp.baseAddress! + (n * outChannels + c) * g.imageSize
                        let bc = b[c]
                        for i in 0..<g.imageSize { plane[i] += bc }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let batch = input.shape[0]
        let g = geometry(inputHeight: input.shape[2], inputWidth: input.shape[3])
        let cin = inChannels
        precondition(dy.shape == [batch, outChannels, g.height, g.width], "ConvTranspose2d backward: dy \(dy.shape)")
        let group = samplesPerGEMM(batch: batch, rows: g.rows, gridSize: g.gridSize)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: g.rows * group * g.gridSize)
        let channelMajor = UnsafeMutablePointer<Float>.allocate(capacity: cin * group * g.gridSize)
        defer { cols.deallocate(); channelMajor.deallocate() }
        var dx = propagatesInputGradient ? Tensor(zeros: input.shape) : Tensor.none

        dy.data.withUnsafeBufferPointer { dyp in
            if accumulatesParameterGradients {
                bias.grad.data.withUnsafeMutableBufferPointer { db in
                    accumulateChannelSums(dyp.baseAddress!, batch: batch, channels: outChannels, pixels: g.imageSize,
                                          into: db.baseAddress!)
                }
            }
            input.data.withUnsafeBufferPointer { xp in
                for start in Swift.stride(from: 0, to: batch, by: group) {
                    let count = min(group, batch - start)
                    let ld = count * g.gridSize
                    for n in 0..<count {
                        im2col(g, image: dyp.baseAddress! + (start + n) * outChannels * g.imageSize,
                               cols: cols + n * g.gridSize, ldCols: ld)
                    }
                    if accumulatesParameterGradients {
                        gatherChannelMajor(xp.baseAddress! + start * cin * g.gridSize, count: count, channels: cin,
                                           pixels: g.gridSize, channelMajor)
                        weight.grad.data.withUnsafeMutableBufferPointer { dw in
                            // dW[Cin, rows] += x[Cin, ld] · colsᵀ
                            BLAS.sgemm(transposeA: false, transposeB: true, m: cin, n: g.rows, k: ld,
                                       a: channelMajor, lda: ld, b: cols, ldb: ld, beta: 1, c: dw.baseAddress!, ldc: g.rows)
                        }
                    }
                    if propagatesInputGradient {
                        weight.value.data.withUnsafeBufferPointer { w in
                            // dx[Cin, ld] = W · cols
                            BLAS.sgemm(transposeA: false, transposeB: false, m: cin, n: ld, k: g.rows,
                                       a: w.baseAddress!, lda: g.rows, b: cols, ldb: ld, beta: 0, c: channelMajor, ldc: ld)
                        }
                        dx.data.withUnsafeMutableBufferPointer { dxp in
                            scatterBatchMajor(channelMajor, count: count, channels: cin, pixels: g.gridSize,
                                              dxp.baseAddress! + start * cin * g.gridSize)
                        }
                    }
                }
            }
        }
        return dx
    }
}
