import CTFLAABI
import Testing
import TFLA
import TFLAABI
import TFLATestSupport

/// The C interface (`tfla.h`, implemented by TFLAABI) gives the Swift API's
/// bits: the same entry points run behind it.
@Suite("C interface")
struct CInterfaceTests {
    /// Copies of tensors in memory that stays put for C calls; freed with
    /// the instance.
    final class Buffers {
        private var pointers: [UnsafeMutableRawPointer] = []

        func copy<T: TensorScalar>(_ tensor: Tensor<T>) -> UnsafeMutablePointer<T> {
            let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(tensor.count, 1))
            tensor.withUnsafeBufferPointer { source in
                for index in source.indices { pointer[index] = source[index] }
            }
            pointers.append(UnsafeMutableRawPointer(pointer))
            return pointer
        }

        func zeros<T: TensorScalar>(_ shape: [Int], _: T.Type = T.self) -> UnsafeMutablePointer<T> {
            copy(Tensor<T>(shape: shape))
        }

        deinit { for pointer in pointers { pointer.deallocate() } }
    }

    static func bits<T: TensorScalar>(_ pointer: UnsafePointer<T>, _ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer, count: count * MemoryLayout<T>.stride))
    }

    static func bits<T: TensorScalar>(_ tensor: Tensor<T>) -> [UInt8] {
        tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    }

    static func problem<T: TensorScalar>(_ x: MLSTMInputs<T>, _ dtype: tfla_dtype, _ buffers: Buffers) -> tfla_problem {
        var problem = tfla_problem()
        tfla_problem_init(&problem)
        let s = x.q.shape
        problem.shape = tfla_shape(batch: Int64(s[0]), heads: Int64(s[1]), sequence: Int64(s[2]),
                                   key_dim: Int64(s[3]), value_dim: Int64(x.v.shape[3]))
        problem.dtype = dtype
        (problem.q, problem.k, problem.v) = (UnsafeRawPointer(buffers.copy(x.q)), UnsafeRawPointer(buffers.copy(x.k)),
                                             UnsafeRawPointer(buffers.copy(x.v)))
        (problem.i, problem.f) = (UnsafeRawPointer(buffers.copy(x.i)), UnsafeRawPointer(buffers.copy(x.f)))
        return problem
    }

    static func forward<T: KernelScalar>(_: T.Type, dtype: tfla_dtype) throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 70, keyDim: 16, valueDim: 8)
        let x = MLSTMInputs<T>.random(shape, seed: 7)
        var options = ChunkwiseOptions(chunkSize: 16)
        options.parallelism = 2
        let expected = try Chunkwise.forward(x, gate: .exponential, options: options)

        let buffers = Buffers()
        var problem = Self.problem(x, dtype, buffers)
        var c = tfla_options()
        tfla_options_init(&c)
        (c.chunk_size, c.parallelism) = (16, 2)
        let h = buffers.zeros(shape.valueShape, T.self), m = buffers.zeros(shape.stabilizerShape, T.self)
        var outputs = tfla_outputs(h: h, c: nil, n: nil, m: m)
        #expect(tfla_forward(&problem, &c, &outputs) == TFLA_OK)
        #expect(bits(h, expected.h.count) == bits(expected.h))
        #expect(bits(m, expected.state.m.count) == bits(expected.state.m))
    }

    @Test func forwardHasTheSwiftBits() throws {
        try Self.forward(Float.self, dtype: TFLA_FLOAT32)
        try Self.forward(Double.self, dtype: TFLA_FLOAT64)
    }

    @Test func bfloat16ForwardHasTheStoredForwardsBits() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 33, keyDim: 8, valueDim: 8)
        let x = MLSTMInputs<BFloat16>.random(shape, seed: 3)
        let expected = try Chunkwise.forward(storedAs: x, gate: .sigmoid(normalize: true))
        let buffers = Buffers()
        var problem = Self.problem(x, TFLA_BFLOAT16, buffers)
        problem.gate = TFLA_GATE_SIGMOID
        let h = buffers.zeros(shape.valueShape, BFloat16.self), c = buffers.zeros(shape.memoryShape, Float.self)
        var outputs = tfla_outputs(h: h, c: c, n: nil, m: nil)
        #expect(tfla_forward(&problem, nil, &outputs) == TFLA_OK)
        #expect(Self.bits(h, expected.h.count) == Self.bits(expected.h))
        #expect(Self.bits(c, expected.state.c.count) == Self.bits(expected.state.c))
    }

    /// With `TFLA_PRECISION_BF16_PRODUCTS` (on AMX: the packed bfloat16
    /// walk), h lands in the caller's buffer with the Swift API's bits.
    @Test func bfloat16ForwardWithBF16ProductsHasTheStoredForwardsBits() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 150, keyDim: 64, valueDim: 64)
        let x = MLSTMInputs<BFloat16>.random(shape, seed: 4)
        var options = ChunkwiseOptions.default
        (options.parallelism, options.precision) = (2, .bf16Products)
        let expected = try Chunkwise.forward(storedAs: x, gate: .exponential, options: options)
        let buffers = Buffers()
        var problem = Self.problem(x, TFLA_BFLOAT16, buffers)
        var c = tfla_options()
        tfla_options_init(&c)
        (c.parallelism, c.precision) = (2, Int32(TFLA_PRECISION_BF16_PRODUCTS.rawValue))
        let h = buffers.zeros(shape.valueShape, BFloat16.self), m = buffers.zeros(shape.stabilizerShape, Float.self)
        var outputs = tfla_outputs(h: h, c: nil, n: nil, m: m)
        #expect(tfla_forward(&problem, &c, &outputs) == TFLA_OK)
        #expect(Self.bits(h, expected.h.count) == Self.bits(expected.h))
        #expect(Self.bits(m, expected.state.m.count) == Self.bits(expected.state.m))
    }

    @Test func gradientsHaveTheSwiftBits() throws {
        let shape = ProblemShape(batch: 1, heads: 3, sequence: 50, keyDim: 8, valueDim: 8)
        let x = MLSTMInputs<Float>.random(shape, seed: 11)
        let dh = MLSTMInputs<Float>.random(shape, seed: 12).v
        let expected = try Chunkwise.gradients(x, gate: .exponential, dh: dh, mode: .exact, stateStride: 2)
        let buffers = Buffers()
        var problem = Self.problem(x, TFLA_FLOAT32, buffers)
        var upstream = tfla_upstream(dh: buffers.copy(dh), dc: nil, dn: nil, dm: nil)
        let dq = buffers.zeros(shape.queryShape, Float.self), dk = buffers.zeros(shape.queryShape, Float.self)
        let dv = buffers.zeros(shape.valueShape, Float.self)
        let di = buffers.zeros(shape.gateShape, Float.self), df = buffers.zeros(shape.gateShape, Float.self)
        var gradients = tfla_gradients(dq: dq, dk: dk, dv: dv, di: di, df: df, dc0: nil, dn0: nil, dm0: nil)
        #expect(tfla_forward_backward(&problem, nil, 2, &upstream, TFLA_GRADIENT_EXACT, nil, &gradients) == TFLA_OK)
        let g = expected.gradients
        #expect(Self.bits(dq, g.dq.count) == Self.bits(g.dq) && Self.bits(dk, g.dk.count) == Self.bits(g.dk) && Self.bits(dv, g.dv.count) == Self.bits(g.dv))
        #expect(Self.bits(di, g.di.count) == Self.bits(g.di) && Self.bits(df, g.df.count) == Self.bits(g.df))
    }

    @Test func stepHasTheInferenceStatesBits() throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 1, keyDim: 16, valueDim: 64)
        let x = MLSTMInputs<Float>.random(shape, seed: 5)
        let (b, nh) = (shape.batch, shape.heads)
        let token = (q: try x.q.reshaped([b, nh, 16]), k: try x.k.reshaped([b, nh, 16]), v: try x.v.reshaped([b, nh, 64]),
                     i: try x.i.reshaped([b, nh, 1]), f: try x.f.reshaped([b, nh, 1]))
        let state = try InferenceState<Float>(batch: b, heads: nh, keyDim: 16, valueDim: 64, gate: .exponential)
        let expected = try state.step(q: token.q, k: token.k, v: token.v, i: token.i, f: token.f)
        let buffers = Buffers()
        var args = tfla_step_args()
        tfla_step_args_init(&args)
        args.shape = tfla_shape(batch: Int64(b), heads: Int64(nh), sequence: 1, key_dim: 16, value_dim: 64)
        (args.q, args.k, args.v) = (UnsafeRawPointer(buffers.copy(token.q)), UnsafeRawPointer(buffers.copy(token.k)),
                                    UnsafeRawPointer(buffers.copy(token.v)))
        (args.i, args.f) = (UnsafeRawPointer(buffers.copy(token.i)), UnsafeRawPointer(buffers.copy(token.f)))
        let c = buffers.zeros(shape.memoryShape, Float.self), h = buffers.zeros([b, nh, 64], Float.self)
        (args.c, args.n, args.m, args.h) = (UnsafeMutableRawPointer(c), UnsafeMutableRawPointer(buffers.zeros(shape.normalizerShape, Float.self)),
                                            UnsafeMutableRawPointer(buffers.zeros(shape.stabilizerShape, Float.self)), UnsafeMutableRawPointer(h))
        #expect(tfla_step(&args) == TFLA_OK)
        #expect(Self.bits(h, expected.count) == Self.bits(expected))
        #expect(Self.bits(c, shape.memoryShape.reduce(1, *)) == Self.bits(state.snapshot().c))
    }
}
