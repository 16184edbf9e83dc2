"""Context parallelism: one sequence split across the ranks of a
torch.distributed process group, forward and backward.

Rank r holds the contiguous slice r of the sequence (group rank order is
sequence order). The forward exchanges one message per rank in one
all_gather: rank 0 sends the state after its slice, every other rank the
summary (F, dC, dn, dm) of its slice (Math.md section 7); each rank then
composes its incoming state and runs its slice. The backward exchanges the
gradients with respect to the incoming states in one all_gather and runs a
reverse scan through the transposed Jacobians of the compositions (see
Docs/context-parallel.md).
"""
import ctypes

import numpy as np
import torch

from .. import _ffi
from .. import core
from ..errors import InvalidArgumentError
from ._autograd import (_CODES, _MODES, _new_state, _options, _prepare_all, _problem, _ptr, inference_forward,
                        state_dtype)


def _distributed(group):
    """(rank, world, dist module or None): without an initialized default
    group and no group given, one process."""
    import torch.distributed as dist
    if not dist.is_available() or (group is None and not dist.is_initialized()):
        return 0, 1, None
    return dist.get_rank(group), dist.get_world_size(group), dist


def _numpy(tensor):
    return None if tensor is None else tensor.detach().numpy()


# ------------------------------------------------------------------ messages

def _pack(parts):
    """One flat float64 tensor of (F, m, C, n), each (B*NH, ...) flattened."""
    return torch.cat([torch.as_tensor(np.asarray(p, dtype=np.float64)).reshape(-1) for p in parts])


def _unpack(message, shape, sd):
    """(F, m) float64 (B, NH) and C, n in the state dtype sd."""
    B, NH, DQK, DHV = shape
    sizes = [B * NH, B * NH, B * NH * DQK * DHV, B * NH * DQK]
    F, m, c, n = torch.split(message, sizes)
    return (F.reshape(B, NH).numpy(), m.reshape(B, NH).numpy(), c.reshape(B, NH, DQK, DHV).to(sd).numpy(),
            n.reshape(B, NH, DQK).to(sd).numpy())


def _all_gather(dist, message, world, group):
    if dist is None:
        return [message]
    parts = [torch.empty_like(message) for _ in range(world)]
    dist.all_gather(parts, message, group=group)
    return parts


def _peer(dist, group, rank):
    return rank if group is None else dist.get_global_rank(group, rank)


def _send(dist, tensor, rank, group):
    dist.send(tensor.contiguous(), _peer(dist, group, rank), group=group)


def _recv(dist, like, rank, group):
    tensor = torch.empty_like(like)
    dist.recv(tensor, _peer(dist, group, rank), group=group)
    return tensor


# ------------------------------------------------------------------ composition

def _chain(messages, shape, sd, gate_kwargs):
    """The incoming states of ranks 1 ... R-1 and the final state, each
    (c, n, m) as numpy arrays (m (B, NH, 1)), and the summaries of ranks
    1 ... R-1 (numpy dicts), from the gathered messages."""
    B, NH = shape[:2]
    _, m0, c0, n0 = _unpack(messages[0], shape, sd)
    states = [(c0, n0, m0.reshape(B, NH, 1).astype(c0.dtype))]
    summaries = [None]
    for message in messages[1:]:
        F, m, c, n = _unpack(message, shape, sd)
        summary = dict(log_decay=F, m=m, c=c, n=n)
        summaries.append(summary)
        out = core.compose(summary, *states[-1], **gate_kwargs)
        states.append((out["c"], out["n"], out["m"].reshape(B, NH, 1)))
    return states, summaries


def _transpose_step(upstream, state_in, state_out, summary, exponential):
    """The gradient with respect to the state before a composed segment from
    the gradient (dc, dn, dm) with respect to the state after it (float64
    tensors): the transposed Jacobian of
        m' = max(F + m, dm),  C' = a C + b dC,  n' = a n + b dn,
        a = exp(F + m - m'),  b = exp(dm - m'),
    at the forward's point: dC = a dC', dn = a dn' and, for the exponential
    gate, d/dm = a (<dC', C> + <dn', n>) + [F + m >= dm] (dm' - <dC', C'>
    - <dn', n'>) (0 for the sigmoid gate, whose m is always 0)."""
    dc, dn, dm = upstream
    c, n, m = (torch.as_tensor(x).double() for x in state_in)
    c2, n2, m2 = (torch.as_tensor(x).double() for x in state_out)
    F = torch.as_tensor(summary["log_decay"]).double().unsqueeze(-1)
    x = F + m
    a = torch.exp(x - m2)
    dc_in = a.unsqueeze(-1) * dc
    dn_in = a * dn
    if not exponential:
        return dc_in, dn_in, torch.zeros_like(dm)
    carried = (x >= torch.as_tensor(summary["m"]).double().unsqueeze(-1)).double()
    inner_in = (dc * c).sum(dim=(-2, -1)).unsqueeze(-1) + (dn * n).sum(dim=-1, keepdim=True)
    inner_out = (dc * c2).sum(dim=(-2, -1)).unsqueeze(-1) + (dn * n2).sum(dim=-1, keepdim=True)
    return dc_in, dn_in, a * inner_in + carried * (dm - inner_out)


# ------------------------------------------------------------------ the local piece

def _training_forward(tensors, shape, gate, eps, chunk_size, state_stride, threads):
    q = tensors[0]
    B, NH, S, DQK, DHV = shape
    h = torch.empty((B, NH, S, DHV), dtype=q.dtype)
    c, n, m = _new_state(shape, q.dtype)
    problem = _problem(tensors, shape, gate, eps)
    outputs = _ffi.Outputs(h=h.data_ptr(), c=c.data_ptr(), n=n.data_ptr(), m=m.data_ptr())
    saved = core.training_saved(problem, _options(chunk_size, threads, True), state_stride, outputs, None)
    return h, (c, n, m), saved


def _local_backward(saved, tensors, shape, gate, eps, mode, threads, dh, state_upstream, has_state):
    """tfla_backward for the upstream dh and (dc, dn, dm) (None: zeros):
    dq, dk, dv, di, df and (dc0, dn0, dm0) when has_state."""
    dtype, sd = tensors[0].dtype, state_dtype(tensors[0].dtype)
    dc, dn, dm = (None, None, None) if state_upstream is None else (
        None if x is None else x.to(sd).contiguous() for x in state_upstream)
    upstream = _ffi.Upstream(dh=dh.data_ptr(), dc=_ptr(dc), dn=_ptr(dn), dm=_ptr(dm))
    grads = [torch.empty_like(t) for t in tensors[:5]]
    state_grads = list(_new_state(shape, dtype)) if has_state else [None, None, None]
    structure = _ffi.Gradients(*(g.data_ptr() for g in grads), *(_ptr(g) for g in state_grads))
    problem = _problem(tensors, shape, gate, eps)
    options = core.make_options(True, None, threads=threads if threads is not None else torch.get_num_threads())
    core.check(_ffi.lib().tfla_backward(ctypes.byref(problem), ctypes.byref(options), saved.handle,
                                        ctypes.byref(upstream), mode, ctypes.byref(structure)), "tfla_backward")
    return grads, state_grads


class ContextParallelFunction(torch.autograd.Function):
    """Inputs: prepared q, k, v, i, f (this rank's slice), c0, n0, m0 (rank
    0's initial state or None), then the gate's name, normalize, eps, the
    gradient mode code, chunk size, state stride, threads, group and
    training (False: the inference forward, no backward). Outputs: h and
    the final state c, n, m (differentiable on the last rank only)."""

    @staticmethod
    def forward(ctx, q, k, v, i, f, c0, n0, m0, gate_name, normalize, eps, mode, chunk_size, state_stride, threads,
                group, training, exchange):
        gate, exponential = core.gate_code(gate_name, normalize), gate_name == "exp"
        gate_kwargs = dict(gate=gate_name, normalize=normalize)
        rank, world, dist = _distributed(group)
        B, NH, S, DQK = q.shape
        DHV = v.shape[3]
        sd = state_dtype(q.dtype)
        state_shape = (B, NH, DQK, DHV)
        # This rank's message: its summary, or on rank 0 the state after its slice.
        x = [_numpy(t) for t in (q, k, v, i, f)]
        summary = core.summarize(*x, eps=eps, threads=threads or torch.get_num_threads(), **gate_kwargs)
        if rank == 0:
            out = core.compose(summary, _numpy(c0), _numpy(n0), _numpy(m0), **gate_kwargs)
            message = _pack((np.zeros((B, NH)), out["m"].reshape(B, NH), out["c"], out["n"]))
        else:
            message = _pack((summary["log_decay"], summary["m"], summary["c"], summary["n"]))
        if exchange == "all_gather":
            messages = _all_gather(dist, message, world, group)
        else:  # "chain": the state after each slice, passed on rank by rank
            # states[j - 1] / states[j]: the states before and after slice j,
            # known here for j = rank, and the final state; summaries[rank].
            states, summaries = [None] * world, [None] * world
            after = message
            if rank > 0:
                incoming_message = _recv(dist, message, rank - 1, group)
                pair, pair_summaries = _chain([incoming_message, message], state_shape, sd, gate_kwargs)
                states[rank - 1], states[rank] = pair
                summaries[rank] = pair_summaries[1]
                c_out, n_out, m_out = pair[1]
                after = _pack((np.zeros((B, NH)), m_out.reshape(B, NH), c_out, n_out))
            if rank < world - 1:
                _send(dist, after, rank + 1, group)
            final = after if rank == world - 1 else torch.empty_like(message)
            if world > 1:  # the final state for every rank
                dist.broadcast(final, _peer(dist, group, world - 1), group=group)
            states[world - 1] = _chain([final], state_shape, sd, gate_kwargs)[0][0]
        if exchange == "all_gather":
            states, summaries = _chain(messages, state_shape, sd, gate_kwargs)
        if rank == 0:
            incoming = (c0, n0, m0)
        else:
            incoming = tuple(torch.from_numpy(np.ascontiguousarray(s)) for s in states[rank - 1])
        tensors = (q, k, v, i, f, *incoming)
        shape = (B, NH, S, DQK, DHV)
        if training:
            h, (c, n, m), saved = _training_forward(tensors, shape, gate, eps, chunk_size, state_stride, threads)
        else:  # nothing kept for a backward
            h, (c, n, m) = inference_forward(tensors, shape, gate, eps, chunk_size, threads)
            saved = None
        if rank != world - 1:
            c, n, m = (torch.from_numpy(np.ascontiguousarray(s)) for s in states[world - 1])
            ctx.mark_non_differentiable(c, n, m)
        ctx.tfla_saved, ctx.shape, ctx.state_shape = saved, shape, state_shape
        ctx.gate, ctx.exponential, ctx.eps, ctx.mode, ctx.threads = gate, exponential, eps, mode, threads
        ctx.rank, ctx.world, ctx.group, ctx.exchange = rank, world, group, exchange
        ctx.states, ctx.summaries = states, summaries
        ctx.m0_shape = None if m0 is None else tuple(m0.shape)
        ctx.incoming = incoming
        ctx.save_for_backward(q, k, v, i, f)
        ctx.set_materialize_grads(False)
        return h, c, n, m

    @staticmethod
    def backward(ctx, dh, dc, dn, dm):
        q, k, v, i, f = ctx.saved_tensors
        rank, world, group = ctx.rank, ctx.world, ctx.group
        _, _, dist = _distributed(group)
        tensors = (q, k, v, i, f, *ctx.incoming)
        has_state = ctx.incoming[0] is not None
        B, NH, S, DQK, DHV = ctx.shape
        dh = torch.zeros((B, NH, S, DHV), dtype=q.dtype) if dh is None else dh.to(q.dtype).contiguous()
        run = lambda upstream, state: _local_backward(ctx.tfla_saved, tensors, ctx.shape, ctx.gate, ctx.eps,
                                                      ctx.mode, ctx.threads, dh, upstream, state)
        last = world - 1
        final_upstream = None
        if rank == last and any(x is not None for x in (dc, dn, dm)):
            final_upstream = (dc, dn, dm)
        if world == 1:
            grads, state_grads = run(final_upstream, has_state)
            return _result(ctx, grads, state_grads)
        # (a) the gradient with respect to this rank's incoming state: the
        # total on the last rank, the part due to its own dh elsewhere.
        zero = lambda: (torch.zeros((B, NH, DQK, DHV), dtype=torch.float64), torch.zeros((B, NH, DQK),
                        dtype=torch.float64), torch.zeros((B, NH, 1), dtype=torch.float64))
        grads = state_grads = None
        if rank == 0:
            local = zero()
        else:
            grads, state_grads = run(final_upstream if rank == last else None, True)
            local = tuple(g.double() for g in state_grads)
        pack = lambda g: torch.cat([g[2].reshape(-1), g[0].reshape(-1), g[1].reshape(-1)])
        sizes = [B * NH, B * NH * DQK * DHV, B * NH * DQK]

        def unpack(part):
            gm, gc, gn = torch.split(part, sizes)
            return gc.reshape(B, NH, DQK, DHV), gn.reshape(B, NH, DQK), gm.reshape(B, NH, 1)

        message = pack(local)
        if ctx.exchange == "chain":
            # The gradient with respect to the state after this slice comes
            # from rank + 1; the one before it goes to rank - 1.
            if rank == last:
                _send(dist, message, rank - 1, group)
                return _result(ctx, grads, state_grads)
            upstream = unpack(_recv(dist, message, rank + 1, group))
            if rank > 0:
                back = _transpose_step(upstream, ctx.states[rank - 1], ctx.states[rank], ctx.summaries[rank],
                                       ctx.exponential)
                _send(dist, pack(tuple(g + b for g, b in zip(local, back))), rank - 1, group)
            grads, state_grads = run(upstream, has_state)
            return _result(ctx, grads, state_grads)
        # (b) one all_gather of these gradients (m's slot first, as in the forward).
        gathered = [unpack(part) for part in _all_gather(dist, message, world, group)]
        if rank == last:
            return _result(ctx, grads, state_grads)
        # (c) the reverse scan: the gradient with respect to the state after
        # this rank's slice (= before rank + 1's).
        upstream = gathered[last]
        # (mode="reference" is refused with several ranks: never here.)
        for j in range(last - 1, rank, -1):
            back = _transpose_step(upstream, ctx.states[j - 1], ctx.states[j], ctx.summaries[j], ctx.exponential)
            upstream = tuple(g + b for g, b in zip(gathered[j], back))
        # (d) this rank's gradients for its dh and that upstream, in one backward.
        grads, state_grads = run(upstream, has_state)
        return _result(ctx, grads, state_grads)


def _result(ctx, grads, state_grads):
    dc0, dn0, dm0 = state_grads
    if ctx.rank != 0 or ctx.incoming[0] is None:
        dc0 = dn0 = dm0 = None
    elif dm0 is not None and ctx.m0_shape is not None:
        dm0 = dm0.reshape(ctx.m0_shape)
    return (*grads, dc0, dn0, dm0, None, None, None, None, None, None, None, None, None, None)




def context_parallel_chunkwise(q, k, v, i, f, c_initial=None, n_initial=None, m_initial=None, *,
                               return_last_states=False, eps=1e-6, chunk_size=None, group=None, gate="exp",
                               normalize=True, mode="exact", state_stride=4, threads=None, exchange="all_gather",
                               **kwargs):
    """The mLSTM over one sequence split across the ranks of `group` (None:
    the default group; without an initialized torch.distributed, one
    process). Rank r passes its contiguous slice q, k (B, NH, S_r, DQK),
    v (B, NH, S_r, DHV), i, f (B, NH, S_r), the slices in group-rank order;
    S_r may differ between ranks (at least 1). Only rank 0 passes the
    initial state (c_initial, n_initial, m_initial; None: zeros); other
    ranks pass None. Returns this rank's h (B, NH, S_r, DHV) and, with
    return_last_states, the final state (c, n, m): on the last rank from
    its own run and differentiable; on the other ranks the same state
    composed from the exchanged summaries (equal to rounding), without
    gradient. Differentiable in every input when grad is enabled (the
    backward is collective too: every rank must run it). float32, float64;
    bfloat16 is computed in float32. Every rank must pass the same B, NH,
    DQK, DHV, dtype, gate, eps and mode. Extra keyword arguments of the
    mlstm_kernels contract (autocast_kernel_dtype, ...) are ignored.

    exchange="all_gather" (default): one all_gather of every rank's summary
    forward and of every rank's state gradient backward; each rank composes
    its incoming state itself. exchange="chain": point to point, rank r
    receives the state after slice r - 1 and sends the state after its own
    (R - 1 hops, one message received per rank; one broadcast of the final
    state), and the state gradients go back the same way."""
    if not isinstance(q, torch.Tensor):
        raise TypeError("q: expected a torch.Tensor")
    dtype = q.dtype
    if dtype not in _CODES:
        raise InvalidArgumentError(f"q: dtype {dtype} is not supported (float32, float64, bfloat16)")
    if mode not in _MODES:
        raise InvalidArgumentError(f"mode must be 'exact' or 'reference', not {mode!r}")
    if exchange not in ("all_gather", "chain"):
        raise InvalidArgumentError(f"exchange must be 'all_gather' or 'chain', not {exchange!r}")
    if gate not in ("exp", "sig"):
        raise InvalidArgumentError(f"gate must be 'exp' or 'sig', not {gate!r}")
    rank, world, _ = _distributed(group)
    if mode == "reference" and world > 1:
        raise InvalidArgumentError(
            "mode='reference' is not available across ranks: its gradients of the forget gates are a reverse "
            "cumulative sum over the whole sequence, which the exchanged state gradients do not reproduce; "
            "use mode='exact'")
    if rank != 0 and any(x is not None for x in (c_initial, n_initial, m_initial)):
        raise InvalidArgumentError(f"rank {rank}: only rank 0 passes the initial state (its incoming state "
                                   "is composed from the ranks before it); pass None")
    if q.shape[2] < 1:
        raise InvalidArgumentError("every rank needs a slice of at least one token")
    compute = torch.float32 if dtype == torch.bfloat16 else dtype
    inputs = (q, k, v, i, f, c_initial, n_initial, m_initial)
    training = torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in inputs)
    tensors, _ = _prepare_all(*inputs, compute)
    h, c, n, m = ContextParallelFunction.apply(*tensors, gate, bool(normalize), float(eps), _MODES[mode],
                                               chunk_size, int(state_stride), threads, group, training, exchange)
    if dtype != compute:
        h = h.to(dtype)
    return (h, (c, n, m)) if return_last_states else h
