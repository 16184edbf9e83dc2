"""Context parallelism: one sequence split across 1, 2 and 4 processes
(gloo over loopback) against one process, forward and gradients, in
float64 to 1e-12 (relative to the largest magnitude, at least 1; one
float32 case to 1e-5)."""
import json
import socket

import pytest

from support import needs_library, needs_module

pytestmark = [needs_library, needs_module("torch")]

torch = pytest.importorskip("torch", reason="torch is not installed")
dist = pytest.importorskip("torch.distributed", reason="torch.distributed is not available")
if not dist.is_available():
    pytest.skip("torch.distributed is not available in this torch build", allow_module_level=True)

import cp_workers  # noqa: E402

TOLERANCE = 1e-12


def free_port():
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def spawn(worker, world, tmp_path, *args):
    import torch.multiprocessing as mp
    mp.spawn(worker, args=(world, f"tcp://127.0.0.1:{free_port()}", str(tmp_path), *args), nprocs=world)
    return [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(world)]


def check(reports, world):
    specs = dict(cp_workers.cases())
    for rank, report in enumerate(reports):
        for name, spec in specs.items():
            result = report[name]
            assert len(result["sizes"]) == world and sum(result["sizes"]) > 0
            worst = max(result["errors"].items(), key=lambda item: item[1])
            assert worst[1] <= spec.get("tolerance", TOLERANCE), f"world {world}, rank {rank}, {name}: {worst}"
            expected = {"h", "c", "n", "m", "dq", "dk", "dv", "di", "df"}
            if rank == 0 and spec["state"]:
                expected |= {"dc0", "dn0", "dm0"}
            assert set(result["errors"]) == expected, (rank, name, sorted(result["errors"]))
            assert result["identical"], f"world {world}, rank {rank}, {name}: repeated runs differ"
            assert result["chain_identical"], f"world {world}, rank {rank}, {name}: exchange='chain' differs"


@pytest.mark.parametrize("group", [False, True], ids=["no-process-group", "group-of-one"])
def test_one_process(tmp_path, group):
    cp_workers.worker(0, 1, f"tcp://127.0.0.1:{free_port()}", str(tmp_path), group)
    check([json.loads((tmp_path / "rank0.json").read_text())], 1)


@pytest.mark.parametrize("world", [2, 4])
def test_split_across_processes_equals_one_process(tmp_path, world):
    """Unequal slices (the last of one token), both gates, initial states,
    extreme gates, both exchanges; the reference gradient mode is refused
    across ranks."""
    reports = spawn(cp_workers.worker, world, tmp_path, True)
    check(reports, world)
    for report in reports:
        assert report["reference-mode-refused"] == "InvalidArgumentError"
    assert reports[0]["exp-state"]["sizes"][-1] == 1


def test_only_rank_zero_passes_the_initial_state():
    import tfla.torch as tt
    from tfla.errors import InvalidArgumentError
    x = torch.zeros((1, 1, 3, 2), dtype=torch.float64)
    g = torch.zeros((1, 1, 3), dtype=torch.float64)
    h, (c, n, m) = tt.context_parallel_chunkwise(x, x, x, g, g, return_last_states=True)
    assert h.shape == (1, 1, 3, 2) and c.shape == (1, 1, 2, 2) and m.shape == (1, 1, 1)
    with pytest.raises(InvalidArgumentError):
        tt.context_parallel_chunkwise(x, x, x, g, g, mode="nonsense")


@needs_module("transformers", "xlstm", "mlstm_kernels", "einops")
def test_xlstm_model_prefill_split_over_four_processes(tmp_path):
    """Each rank runs the model on its slice of the prompt with the mLSTM
    cell context-parallel: the last token's logits and every layer's final
    state equal one process's (float32), and greedy generation continued
    from the last rank's cache gives one process's tokens."""
    reports = spawn(cp_workers.model_worker, 4, tmp_path)
    for rank, report in enumerate(reports):
        assert report["state_error"] <= 1e-5, (rank, report["state_error"])
    # The last rank holds the prompt's last token: its logits and the generation.
    assert reports[-1]["logits_error"] <= 1e-4, reports[-1]["logits_error"]
    assert reports[-1]["tokens"] == reports[-1]["expected_tokens"]
