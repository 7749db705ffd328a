import SIMDSupport

/// max(x, 0). Keeps its output: y > 0 is exactly the mask backward needs.
public final class ReLU: Layer {
    private var output = Tensor.none
    public init() {}
    public var parameters: [Parameter] { [] }

    public func forward(_ x: Tensor) -> Tensor {
        output = Tensor(shape: x.shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                mapElements(xp.count, xp.baseAddress!, into: y.baseAddress!) { $0.replacing(with: 0, where: $0 .< 0) }
            }
        }
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        Tensor(shape: output.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                output.data.withUnsafeBufferPointer { y in
                    mapElements(y.count, g.baseAddress!, y.baseAddress!, into: dx.baseAddress!) { g, y in g.replacing(with: 0, where: y .<= 0) }
                }
            }
        }
    }
}

/// x for x > 0, slope·x otherwise.
public final class LeakyReLU: Layer {
    public let slope: Float
    private var input = Tensor.none
    public init(slope: Float = 0.01) { self.slope = slope }
    public var parameters: [Parameter] { [] }

    public func forward(_ x: Tensor) -> Tensor {
        input = x
        let slope = slope
        return Tensor(shape: x.shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                mapElements(xp.count, xp.baseAddress!, into: y.baseAddress!) { $0.replacing(with: slope * $0, where: $0 .<= 0) }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let slope = slope
        return Tensor(shape: input.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                input.data.withUnsafeBufferPointer { x in
                    mapElements(x.count, g.baseAddress!, x.baseAddress!, into: dx.baseAddress!) { g, x in g.replacing(with: slope * g, where: x .<= 0) }
                }
            }
        }
    }
}

/// 1 / (1 + e^-x). Keeps its output, since dσ/dx = σ(1 − σ).
public final class Sigmoid: Layer {
    private var output = Tensor.none
    public init() {}
    public var parameters: [Parameter] { [] }

    public func forward(_ x: Tensor) -> Tensor {
        output = Tensor(shape: x.shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                mapElements(xp.count, xp.baseAddress!, into: y.baseAddress!) { sigmoid($0) }
            }
        }
        return output
    }

    public func backward(_ dy: Tensor) -> Tensor {
        Tensor(shape: output.shape) { dx in
            dy.data.withUnsafeBufferPointer { g in
                output.data.withUnsafeBufferPointer { y in
                    mapElements(y.count, g.baseAddress!, y.baseAddress!, into: dx.baseAddress!) { g, y in g * y * (1 - y) }
                }
            }
        }
    }
}

/// Changes the per-sample shape, keeping the batch dimension; data is untouched.
public final class Reshape: Layer {
    public let sampleShape: [Int]
    private var inputShape: [Int] = []
    public init(_ sampleShape: [Int]) { self.sampleShape = sampleShape }
    public var parameters: [Parameter] { [] }

    public func forward(_ x: Tensor) -> Tensor {
        inputShape = x.shape
        precondition(x.elementsPerSample == sampleShape.reduce(1, *), "Reshape: \(x.shape) to [N] + \(sampleShape)")
        return x.reshaped([x.batchSize] + sampleShape)
    }

    public func backward(_ dy: Tensor) -> Tensor { dy.reshaped(inputShape) }
}

/// [N, ...] → [N, everything else].
public final class Flatten: Layer {
    private var inputShape: [Int] = []
    public init() {}
    public var parameters: [Parameter] { [] }

    public func forward(_ x: Tensor) -> Tensor {
        inputShape = x.shape
        return x.reshaped([x.batchSize, x.elementsPerSample])
    }

    public func backward(_ dy: Tensor) -> Tensor { dy.reshaped(inputShape) }
}
