import Testing
import TFLA

@Suite("Tensor")
struct TensorTests {
    @Test func shapeCountAndRowMajorLayout() throws {
        let t = try Tensor<Double>(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        #expect(t.count == 6)
        #expect(t.rank == 2)
        #expect(t.strides == [3, 1])
        #expect(t[1, 0] == 3)
        #expect(t[0, 2] == 2)
    }

    @Test func scalarTensorHasOneElement() {
        let t = Tensor<Float>(shape: [], repeating: 2.5)
        #expect(t.count == 1)
        #expect(t.scalars == [2.5])
    }

    @Test func elementCountMismatchThrows() {
        #expect(throws: TFLAError.elementCountMismatch(argument: "scalars", shape: [2, 2], count: 3)) {
            try Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3])
        }
    }

    @Test func negativeDimensionThrows() {
        #expect(throws: TFLAError.invalidShape(argument: "shape", shape: [2, -1], reason: "dimensions must be non-negative")) {
            try Tensor<Float>(shape: [2, -1], scalars: [])
        }
    }

    @Test func copiesAreIndependent() throws {
        let a = try Tensor<Double>(shape: [3], scalars: [1, 2, 3])
        var b = a
        b[1] = 20
        #expect(a.scalars == [1, 2, 3])
        #expect(b.scalars == [1, 20, 3])
    }

    @Test func wrappingWritesThroughWithoutCopying() throws {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4)
        defer { buffer.deallocate() }
        _ = buffer.initialize(from: [1, 2, 3, 4])
        var t = try Tensor(shape: [2, 2], wrapping: buffer)
        t[1, 1] = 40
        #expect(buffer[3] == 40)
        t.withUnsafeBufferPointer { #expect($0.baseAddress == UnsafePointer(buffer.baseAddress)) }
        // A shared copy detaches before it is written: the buffer keeps 40.
        var copy = t
        copy[0, 0] = -1
        #expect(buffer[0] == 1)
        #expect(copy[0, 0] == -1)
    }

    @Test func wrappingChecksTheCount() {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0)
        #expect(throws: TFLAError.elementCountMismatch(argument: "buffer", shape: [2, 2], count: 3)) {
            try Tensor(shape: [2, 2], wrapping: buffer)
        }
    }

    @Test func reshapeKeepsElements() throws {
        let t = try Tensor<Double>(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        let r = try t.reshaped([3, 2])
        #expect(r[2, 1] == 5)
        #expect(throws: TFLAError.elementCountMismatch(argument: "shape", shape: [4, 2], count: 6)) { try t.reshaped([4, 2]) }
    }

    @Test func conversionBetweenScalarTypes() throws {
        let t = try Tensor<Double>(shape: [2], scalars: [0.5, -1.25])
        #expect(t.converted(to: Float.self).scalars == [0.5, -1.25])
    }
}
