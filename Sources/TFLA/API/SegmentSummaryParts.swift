extension SegmentSummary {
    /// A summary from its parts, for the C interface (`tfla_compose`), which
    /// receives them as caller buffers; ``Chunkwise/compose(_:after:)``
    /// checks that they fit together.
    package static func assembled(
        gate: Gate, logDecay: Tensor<Double>, c: Tensor<Scalar>, n: Tensor<Scalar>, m: Tensor<Double>
    ) -> SegmentSummary {
        SegmentSummary(gate: gate, logDecay: logDecay, c: c, n: n, m: m)
    }
}
