/// A named trainable array and its gradient. A class, so that the layer using it, the
/// optimiser updating it and the file writer saving it all see the same storage.
public final class Parameter {
    public let name: String
    public var value: Tensor
    /// Allocated on first use: a model loaded only to encode or decode never needs it.
    public lazy var grad = Tensor(zeros: value.shape)

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }

    public func zeroGradient() {
        grad.data.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
}

/// forward(x) keeps what backward needs; backward(dy) returns dx and *adds* into parameter
/// gradients, so several backward passes (e.g. several latent samples) can accumulate.
public protocol Layer: AnyObject {
    func forward(_ x: Tensor) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
    var parameters: [Parameter] { get }
}

/// Layers with weights can skip the two halves of their backward pass that a caller may not
/// need: the input gradient of a network's first layer (the data needs none), and weight
/// gradients when backpropagating only to the input (MAP inference through a frozen decoder).
public protocol TrainableLayer: Layer {
    var propagatesInputGradient: Bool { get set }
    var accumulatesParameterGradients: Bool { get set }
}

public enum WeightInitialization: Sendable {
    /// Kaiming normal, std = sqrt(2 / fanIn): keeps activation variance through ReLUs.
    case he
    /// Glorot uniform, bound = sqrt(6 / (fanIn + fanOut)): for layers not followed by a ReLU.
    case xavier
    /// PyTorch's nn.Linear/nn.Conv2d default, U(±1/sqrt(fanIn)) for weights and biases alike.
    case uniformFanIn
    /// All zeros: for weights a model file supplies next, so no random draw is wasted on them.
    case zeros
}

func initialWeights(shape: [Int], fanIn: Int, fanOut: Int, scheme: WeightInitialization,
                    rng: inout Xoshiro256StarStar) -> Tensor {
    switch scheme {
    case .zeros:
        return Tensor(zeros: shape)
    case .he:
        return rng.normalTensor(shape: shape, standardDeviation: (2.0 / Float(fanIn)).squareRoot())
    case .xavier, .uniformFanIn:
        let bound = scheme == .xavier ? (6.0 / Float(fanIn + fanOut)).squareRoot() : 1 / Float(fanIn).squareRoot()
        return Tensor(shape: shape) { buffer in
            for i in buffer.indices { buffer[i] = (2 * rng.nextFloat() - 1) * bound }
        }
    }
}

/// Layers applied in order. Backward stops early after a layer that does not propagate
/// its input gradient, since nothing before it could use one.
public final class Sequential: Layer {
    public let layers: [Layer]

    public init(_ layers: [Layer]) { self.layers = layers }

    public func forward(_ x: Tensor) -> Tensor {
        var h = x
        for layer in layers { h = layer.forward(h) }
        return h
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var d = dy
        for layer in layers.reversed() {
            d = layer.backward(d)
            if let trainable = layer as? TrainableLayer, !trainable.propagatesInputGradient { return Tensor.none }
        }
        return d
    }

    public var parameters: [Parameter] { layers.flatMap { $0.parameters } }

    public func setAccumulatesParameterGradients(_ enabled: Bool) {
        for case let trainable as TrainableLayer in layers { trainable.accumulatesParameterGradients = enabled }
    }
}
