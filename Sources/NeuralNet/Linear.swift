/// y = x · Wᵀ + b with W stored [out, in] (PyTorch's layout, so weights port unchanged).
public final class Linear: TrainableLayer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter
    public var propagatesInputGradient = true
    public var accumulatesParameterGradients = true
    private var input = Tensor.none

    public init(_ inFeatures: Int, _ outFeatures: Int, name: String,
                initialization: WeightInitialization = .he, rng: inout Xoshiro256StarStar) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(name: name + ".weight",
                           value: initialWeights(shape: [outFeatures, inFeatures], fanIn: inFeatures,
                                                 fanOut: outFeatures, scheme: initialization, rng: &rng))
        bias = Parameter(name: name + ".bias", value: initialization == .uniformFanIn
            ? initialWeights(shape: [outFeatures], fanIn: inFeatures, fanOut: outFeatures, scheme: .uniformFanIn, rng: &rng)
            : Tensor(zeros: [outFeatures]))
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: Tensor) -> Tensor {
        let n = x.batchSize
        precondition(x.count == n * inFeatures, "Linear(\(inFeatures)→\(outFeatures)): input shape \(x.shape)")
        input = x
        let (inF, outF) = (inFeatures, outFeatures)
        // Rows start as the bias, then the GEMM accumulates onto them (beta = 1): the bias add costs no extra pass.
        return Tensor(shape: [n, outF]) { y in
            bias.value.data.withUnsafeBufferPointer { b in
                for row in 0..<n { (y.baseAddress! + row * outF).initialize(from: b.baseAddress!, count: outF) }
            }
            x.data.withUnsafeBufferPointer { xp in
                weight.value.data.withUnsafeBufferPointer { wp in
                    BLAS.sgemm(transposeA: false, transposeB: true, m: n, n: outF, k: inF,
                               a: xp.baseAddress!, lda: inF, b: wp.baseAddress!, ldb: inF,
                               beta: 1, c: y.baseAddress!, ldc: outF)
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let n = input.batchSize
        let (inF, outF) = (inFeatures, outFeatures)
        precondition(dy.count == n * outF, "Linear backward: dy shape \(dy.shape)")
        if accumulatesParameterGradients {
            dy.data.withUnsafeBufferPointer { dyp in
                input.data.withUnsafeBufferPointer { xp in
                    weight.grad.data.withUnsafeMutableBufferPointer { dw in
                        // dW[out,in] += dyᵀ · x
                        BLAS.sgemm(transposeA: true, transposeB: false, m: outF, n: inF, k: n,
                                   a: dyp.baseAddress!, lda: outF, b: xp.baseAddress!, ldb: inF,
                                   beta: 1, c: dw.baseAddress!, ldc: inF)
                    }
                }
                bias.grad.data.withUnsafeMutableBufferPointer { db in
                    for row in 0..<n {
                        let r = dyp.baseAddress! + row * outF
                        for j in 0..<outF { db[j] += r[j] }
                    }
                }
            }
        }
        guard propagatesInputGradient else { return Tensor.none }
        return Tensor(shape: input.shape) { dx in
            dy.data.withUnsafeBufferPointer { dyp in
                weight.value.data.withUnsafeBufferPointer { wp in
                    // dx[n,in] = dy · W
                    BLAS.sgemm(transposeA: false, transposeB: false, m: n, n: inF, k: outF,
                               a: dyp.baseAddress!, lda: outF, b: wp.baseAddress!, ldb: inF,
                               beta: 0, c: dx.baseAddress!, ldc: inF)
                }
            }
        }
    }
}
