/// Scoped access to tensors' memory for the kernels.
///
/// Kernels work on raw pointers. A pointer is handed out only to a closure,
/// and the tensor (or group of tensors) it points into is kept alive until
/// the closure returns; a pointer must not be used after it. Writing access
/// first gives the tensor storage of its own (copy-on-write). These helpers
/// are the only places that tie a pointer's validity to its tensor's
/// lifetime: call sites keep nothing alive by hand.
extension Tensor {
    /// Runs `body` with the first element's address, for reading.
    @inline(__always)
    func withReadPointer<R, E: Error>(_ body: (UnsafePointer<Scalar>) throws(E) -> R) throws(E) -> R {
        try withExtendedLifetime(storage) { () throws(E) -> R in try body(UnsafePointer(storage.base)) }
    }

    /// Runs `body` with the first element's address, for writing (after a
    /// copy if the storage is shared).
    @inline(__always)
    package mutating func withWritePointer<R, E: Error>(_ body: (UnsafeMutablePointer<Scalar>) throws(E) -> R) throws(E) -> R {
        let storage = uniqueStorage()
        return try withExtendedLifetime(storage) { () throws(E) -> R in try body(storage.base) }
    }

    /// The storage, copied first if it is shared.
    @inline(__always)
    fileprivate mutating func uniqueStorage() -> TensorStorage<Scalar> {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }
}

/// `withWritePointer` of four tensors at once (the parts of saved chunk
/// states or of segment summaries).
func withWritePointers<A, B, C, D, R>(
    _ a: inout Tensor<A>, _ b: inout Tensor<B>, _ c: inout Tensor<C>, _ d: inout Tensor<D>,
    _ body: (UnsafeMutablePointer<A>, UnsafeMutablePointer<B>, UnsafeMutablePointer<C>, UnsafeMutablePointer<D>) -> R
) -> R {
    let owners = (a.uniqueStorage(), b.uniqueStorage(), c.uniqueStorage(), d.uniqueStorage())
    return withExtendedLifetime(owners) { body(owners.0.base, owners.1.base, owners.2.base, owners.3.base) }
}

/// q, k, v, i, f of one call.
struct InputPointers<Scalar: TensorScalar> {
    let q, k, v, i, f: UnsafePointer<Scalar>
}

/// A state's c, n and m, for reading.
struct StatePointers<Scalar: TensorScalar> {
    let c, n, m: UnsafePointer<Scalar>
}

/// A state's c, n and m, for writing.
struct MutableStatePointers<Scalar: TensorScalar> {
    let c, n, m: UnsafeMutablePointer<Scalar>
}

extension MLSTMInputs {
    /// Runs `body` with pointers to q, k, v, i and f, alive for the call.
    func withPointers<R, E: Error>(_ body: (InputPointers<Scalar>) throws(E) -> R) throws(E) -> R {
        let owners = (q.storage, k.storage, v.storage, i.storage, f.storage)
        return try withExtendedLifetime(owners) { () throws(E) -> R in
            try body(InputPointers(q: UnsafePointer(owners.0.base), k: UnsafePointer(owners.1.base),
                                   v: UnsafePointer(owners.2.base), i: UnsafePointer(owners.3.base),
                                   f: UnsafePointer(owners.4.base)))
        }
    }
}

extension MLSTMState {
    /// Runs `body` with pointers to c, n and m for reading, alive for the call.
    func withPointers<R, E: Error>(_ body: (StatePointers<Scalar>) throws(E) -> R) throws(E) -> R {
        let owners = (c.storage, n.storage, m.storage)
        return try withExtendedLifetime(owners) { () throws(E) -> R in
            try body(StatePointers(c: UnsafePointer(owners.0.base), n: UnsafePointer(owners.1.base),
                                   m: UnsafePointer(owners.2.base)))
        }
    }

    /// Runs `body` with pointers to c, n and m for writing, alive for the call.
    mutating func withMutablePointers<R, E: Error>(_ body: (MutableStatePointers<Scalar>) throws(E) -> R) throws(E) -> R {
        let owners = (c.uniqueStorage(), n.uniqueStorage(), m.uniqueStorage())
        return try withExtendedLifetime(owners) { () throws(E) -> R in
            try body(MutableStatePointers(c: owners.0.base, n: owners.1.base, m: owners.2.base))
        }
    }
}

extension Optional {
    /// `withPointers` of a state that may be absent (nil pointers then).
    func withStatePointers<S: TensorScalar, R, E: Error>(
        _ body: (StatePointers<S>?) throws(E) -> R
    ) throws(E) -> R where Wrapped == MLSTMState<S> {
        guard let state = self else { return try body(nil) }
        return try state.withPointers { (pointers) throws(E) -> R in try body(pointers) }
    }
}

extension Array {
    /// `withPointers` of every state, in order.
    func withStatePointers<S: TensorScalar, R, E: Error>(
        _ body: ([StatePointers<S>]) throws(E) -> R
    ) throws(E) -> R where Element == MLSTMState<S> {
        let owners = map { ($0.c.storage, $0.n.storage, $0.m.storage) }
        return try withExtendedLifetime(owners) { () throws(E) -> R in
            try body(owners.map { StatePointers(c: UnsafePointer($0.0.base), n: UnsafePointer($0.1.base), m: UnsafePointer($0.2.base)) })
        }
    }

    /// `withMutablePointers` of every state, in order.
    mutating func withMutableStatePointers<S: TensorScalar, R, E: Error>(
        _ body: ([MutableStatePointers<S>]) throws(E) -> R
    ) throws(E) -> R where Element == MLSTMState<S> {
        var owners: [(TensorStorage<S>, TensorStorage<S>, TensorStorage<S>)] = []
        for index in indices {
            owners.append((self[index].c.uniqueStorage(), self[index].n.uniqueStorage(), self[index].m.uniqueStorage()))
        }
        return try withExtendedLifetime(owners) { () throws(E) -> R in
            try body(owners.map { MutableStatePointers(c: $0.0.base, n: $0.1.base, m: $0.2.base) })
        }
    }
}

/// The gradients' tensors, for writing.
struct GradientPointers<Scalar: TensorScalar> {
    let dq, dk, dv, di, df, dc0, dn0, dm0: UnsafeMutablePointer<Scalar>
}

extension MLSTMGradients {
    /// Runs `body` with pointers to every gradient for writing, alive for the call.
    mutating func withMutablePointers<R, E: Error>(_ body: (GradientPointers<Scalar>) throws(E) -> R) throws(E) -> R {
        let owners = (dq.uniqueStorage(), dk.uniqueStorage(), dv.uniqueStorage(), di.uniqueStorage(), df.uniqueStorage(),
                      dInitialState.c.uniqueStorage(), dInitialState.n.uniqueStorage(), dInitialState.m.uniqueStorage())
        return try withExtendedLifetime(owners) { () throws(E) -> R in
            try body(GradientPointers(dq: owners.0.base, dk: owners.1.base, dv: owners.2.base, di: owners.3.base,
                                      df: owners.4.base, dc0: owners.5.base, dn0: owners.6.base, dm0: owners.7.base))
        }
    }
}
