extension Tensor {
    /// A copy of the elements whose index along `axis` lies in `range`.
    ///
    /// - Throws: ``TFLAError/invalidParameter(name:value:requirement:)`` when
    ///   the axis or range is out of bounds.
    public func slicing(axis: Int, _ range: Range<Int>) throws(TFLAError) -> Tensor {
        guard axis >= 0, axis < rank else {
            throw .invalidParameter(name: "axis", value: "\(axis)", requirement: "in 0..<\(rank) for shape \(shape)")
        }
        guard range.lowerBound >= 0, range.upperBound <= shape[axis] else {
            throw .invalidParameter(name: "range", value: "\(range)", requirement: "within 0..<\(shape[axis]) on axis \(axis) of shape \(shape)")
        }
        var newShape = shape
        newShape[axis] = range.count
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        var result = Tensor(shape: newShape)
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                let block = range.count * inner
                for o in 0..<outer where block > 0 {
                    let from = source.baseAddress! + (o * shape[axis] + range.lowerBound) * inner
                    (target.baseAddress! + o * block).update(from: from, count: block)
                }
            }
        }
        return result
    }
}

extension Tensor {
    /// Writes `slice` over the elements whose index along `axis` lies in
    /// `range` (the inverse of ``slicing(axis:_:)``). Shapes are checked by
    /// the callers.
    mutating func replaceSlice(axis: Int, _ range: Range<Int>, with slice: Tensor) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let (length, block) = (shape[axis], range.count * inner)
        withWritePointer { target in
            slice.withUnsafeBufferPointer { source in
                for o in 0..<outer where block > 0 {
                    (target + (o * length + range.lowerBound) * inner).update(from: source.baseAddress! + o * block, count: block)
                }
            }
        }
    }
}

extension MLSTMInputs {
    /// The inputs of tokens `range` (along S) only.
    public func sequenceSlice(_ range: Range<Int>) throws(TFLAError) -> MLSTMInputs {
        MLSTMInputs(
            q: try q.slicing(axis: 2, range), k: try k.slicing(axis: 2, range), v: try v.slicing(axis: 2, range),
            i: try i.slicing(axis: 2, range), f: try f.slicing(axis: 2, range))
    }
}
