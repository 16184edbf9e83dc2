import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a chunk of the packed walk needs beyond an item's columns of v and
/// C (and its n): its gates, q and kᵀ packed, the decayed scores (their
/// row sums and their packed tiles), and the weighted keys of the state
/// update with n's increment. They depend on the inputs and the stabilizer
/// before the chunk only, which the gates alone decide: every column tile
/// of a head computes the same values, so they are computed once per head
/// and chunk where the tiles meet (`SharedChunkWork`), else by each item
/// into its own buffers.
struct ChunkCommon {
    let gates: ChunkGates
    /// q of the chunk: op(A) of Q·C and of the scores.
    let queries: UnsafeMutablePointer<UInt32>
    /// kᵀ of the chunk (bfloat16 inputs): op(B) of the scores.
    let keys: UnsafeMutablePointer<UInt32>
    /// The decayed scores in float32 (L × L) and packed as op(A) of S·V.
    let scores: UnsafeMutablePointer<Float>
    let scoreTiles: UnsafeMutablePointer<UInt32>
    /// (diag(w)K)ᵀ packed (op(A) of the state update) and the weights w_t.
    let weightedKeys: UnsafeMutablePointer<UInt32>
    let weights: UnsafeMutablePointer<Float>
    /// Σ_j S̄_tj per row.
    let rowSum: UnsafeMutablePointer<Float>
    /// Σ_t w_t·k_t: each tile advances its n as γn + this.
    let normalizerDelta: UnsafeMutablePointer<Float>
}

/// The per-chunk work a head's column tiles share in the packed walk.
///
/// With C's columns split into T tiles (two at 16 workers on the 7B head),
/// each item of a head would compute the chunk's gates, scores, packed q,
/// kᵀ and weighted keys itself: T times the same values, 19 % of the walk's
/// work at 16 threads (`Docs/log/bf16-end-to-end.md`, "Runs 6–8"). Here
/// tile t computes the values of the chunks c with c mod T = t one step
/// ahead into one of the head's slots and publishes them, and reads the
/// others'; tiles running side by side thus split the work instead of
/// waiting for each other. Nobody ever waits for an item that is not
/// running: a slot still being filled is waited for (its filler is
/// running), an empty one is filled by whoever comes first, and a slot
/// that holds another chunk not yet read by every tile is left alone, the
/// item computing that chunk's values in its own buffers. The values, and
/// the outputs, are the same whichever item computes them and however many
/// threads run the items.
package final class SharedChunkWork: @unchecked Sendable {
    /// One chunk's shared values and the slot's state: −1 empty, 2c while
    /// chunk c is computed, 2c + 1 when it is ready.
    final class Slot {
        let state = Atomic<Int>(-1)
        /// Tiles done with the chunk in the slot (its filler included).
        let readers = Atomic<Int>(0)
        let gates: ChunkGates
        private let queries, keys, scoreTiles, weightedKeys: OwnedBuffer<UInt32>
        private let scores, weights, rowSum, normalizerDelta: OwnedBuffer<Float>

        init(chunk: Int, keyDim: Int) {
            func words(k: Int, n: Int) -> Int { BF16Products.packedWords(k: k, n: n) }
            gates = ChunkGates(capacity: chunk)
            queries = OwnedBuffer(capacity: words(k: keyDim, n: chunk))
            keys = OwnedBuffer(capacity: words(k: keyDim, n: chunk))
            scoreTiles = OwnedBuffer(capacity: words(k: chunk, n: chunk))
            weightedKeys = OwnedBuffer(capacity: words(k: chunk, n: keyDim))
            scores = OwnedBuffer(capacity: chunk * chunk)
            weights = OwnedBuffer(capacity: chunk)
            rowSum = OwnedBuffer(capacity: chunk)
            normalizerDelta = OwnedBuffer(capacity: keyDim)
        }

        var common: ChunkCommon {
            ChunkCommon(gates: gates, queries: queries.baseAddress, keys: keys.baseAddress,
                        scores: scores.baseAddress, scoreTiles: scoreTiles.baseAddress,
                        weightedKeys: weightedKeys.baseAddress, weights: weights.baseAddress,
                        rowSum: rowSum.baseAddress, normalizerDelta: normalizerDelta.baseAddress)
        }
    }

    /// What an item does with a chunk's shared values; `finishReading`
    /// when done with them, either way.
    enum Claim {
        /// Compute them into the slot, then `publish`.
        case compute(Slot)
        /// Read them from the slot.
        case read(Slot)
    }

    private let slots: [Slot]
    private let tilesPerHead: Int
    /// Slots per head: chunks a head's tiles may drift apart and still share.
    private let ring: Int
    /// How far ahead of its current chunk a tile computes one it owns.
    var reach: Int { ring - tilesPerHead }
    /// Chunks read from another tile since the process started (tests
    /// check that sharing happens).
    package static let reads = Atomic<Int>(0)

    init(heads: Int, tilesPerHead: Int, chunk: Int, keyDim: Int) {
        self.tilesPerHead = tilesPerHead
        ring = 2 * tilesPerHead
        slots = (0..<heads * ring).map { _ in Slot(chunk: chunk, keyDim: keyDim) }
    }

    /// The slot of chunk `chunk` of head `head` if it is free to fill now
    /// (else nil: another tile has it, or it still holds an unread chunk).
    func claimToCompute(head: Int, chunk: Int) -> Slot? {
        let slot = slots[head * ring + chunk % ring]
        let state = slot.state.load(ordering: .acquiring)
        guard isFree(slot, state: state, for: chunk),
              slot.state.compareExchange(expected: state, desired: 2 * chunk, ordering: .acquiringAndReleasing).exchanged
        else { return nil }
        slot.readers.store(0, ordering: .relaxed)
        return slot
    }

    /// Empty, or holding an earlier chunk that every tile is done with.
    private func isFree(_ slot: Slot, state: Int, for chunk: Int) -> Bool {
        state == -1
            || (state % 2 == 1 && state / 2 < chunk && slot.readers.load(ordering: .acquiring) >= tilesPerHead)
    }

    /// The slot of chunk `chunk` of head `head`, to compute or to read; nil:
    /// the item computes the values in its own buffers.
    func claim(head: Int, chunk: Int) -> Claim? {
        let slot = slots[head * ring + chunk % ring]
        var spins = 0
        while true {
            let state = slot.state.load(ordering: .acquiring)
            if state == 2 * chunk + 1 {
                Self.reads.add(1, ordering: .relaxed)
                return .read(slot)
            }
            if state == 2 * chunk {
                // Another tile is filling it (and running; with more items
                // than cores it may be descheduled: give way now and then).
                spins += 1
                if spins % 1024 == 0 { sched_yield() }
                continue
            }
            guard isFree(slot, state: state, for: chunk) else { return nil }
            if slot.state.compareExchange(expected: state, desired: 2 * chunk, ordering: .acquiringAndReleasing).exchanged {
                slot.readers.store(0, ordering: .relaxed)
                return .compute(slot)
            }
        }
    }

    /// Makes a computed chunk's values visible to the head's other tiles.
    func publish(_ slot: Slot, chunk: Int) {
        slot.state.store(2 * chunk + 1, ordering: .releasing)
    }

    /// Records that a tile is done with the chunk's values.
    func finishReading(_ slot: Slot) {
        slot.readers.add(1, ordering: .releasing)
    }
}
