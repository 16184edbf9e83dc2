"""PyTorch on libtfla_c: autograd Functions, and the mlstm_kernels backend.

    import tfla.torch
    h, (c, n, m) = tfla.torch.mlstm(q, k, v, i, f, c0, n0, m0)   # differentiable
    tfla.torch.register()          # mlstm_kernels keys "chunkwise--tfla", step "tfla"
    h = tfla.torch.context_parallel_chunkwise(q_r, k_r, v_r, i_r, f_r)   # one sequence across ranks

Tensors: CPU only (others raise ValueError). float32, float64 and bfloat16;
the state (c, n, m) is float64 for float64 inputs and float32 otherwise.
Contiguous tensors of the computing dtype are passed by `data_ptr()` without
a copy; a non-contiguous tensor is copied once with `.contiguous()`, and
k, v, i, f of another dtype than q are converted to q's dtype (both are
ordinary, differentiable torch operations).

Inference (torch.no_grad(), or no input requiring grad) calls tfla_forward,
which keeps nothing for a backward. bfloat16 tensors there run with bf16
products by default (precision=None): on a CPU with AMX, q, k, v are read
in place as bfloat16 and packed into tiles once per chunk (h within about
1e-2 of max |h| of the float32 result); where AMX is missing the library
computes in float32. precision="float32" keeps the exact float32 forward of
the widened values (h is that result rounded to bfloat16). With grad, the
training forward (tfla_training_forward) keeps its tfla_saved in the
autograd graph until the graph is freed; bfloat16 inputs are then converted
to float32 for the forward and the backward (h and the gradients are
returned in bfloat16; bf16 products are inference-only). The step computes
bfloat16 in float32 (widened per token, h rounded back).

The library is called through ctypes.CDLL, which releases the GIL during
each call. `threads` defaults to torch.get_num_threads().
"""
from ._autograd import mlstm, step
from ._context_parallel import context_parallel_chunkwise
from ._backend import (Registration, chunkwise_kernel, context_parallel, register, sequence_kernel, step_kernel,
                       step_kernel_inplace, unregister)

__all__ = ["mlstm", "step", "register", "unregister", "Registration", "chunkwise_kernel", "sequence_kernel",
           "step_kernel", "step_kernel_inplace", "context_parallel_chunkwise", "context_parallel"]
