"""Per-call cost of tiny problems: the in-process API (tfla.forward, the
bare C call through ctypes, tfla.torch) against the `tfla` command, with the
kernel's own time (`tfla run --repeat`) to subtract. Prints CSV on stdout.

    python python/benchmarks/overhead.py                    # defaults below
    python python/benchmarks/overhead.py --calls 4000 --rounds 7
    python python/benchmarks/overhead.py --compare-lib OLD.so   # A/B against another libtfla_c

Rounds alternate the implementations; each round times `--calls` calls and
keeps their median; the CSV gives the median over rounds. Columns: case,
implementation, shape (B NH S DQK DHV), dtype, threads, median_seconds,
overhead_seconds (median_seconds minus the kernel's time), calls, rounds.

--compare-lib runs this script again in a subprocess with TFLA_LIB set to
the other library (and, with --compare-python DIR, that directory first on
sys.path: another version of the package), alternating with this one.
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = [(1, 1, 64, 16, 16), (1, 1, 16, 16, 16), (1, 4, 128, 32, 32)]


def inputs(shape, dtype, seed=0):
    B, NH, S, DQK, DHV = shape
    rng = np.random.default_rng(seed)
    return dict(q=(rng.standard_normal((B, NH, S, DQK)) / np.sqrt(DQK)).astype(dtype),
                k=rng.standard_normal((B, NH, S, DQK)).astype(dtype),
                v=rng.standard_normal((B, NH, S, DHV)).astype(dtype),
                i=rng.standard_normal((B, NH, S)).astype(dtype),
                f=(3 + rng.standard_normal((B, NH, S))).astype(dtype))


def median_call(function, calls, warmup=20):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_process_cases(shape):
    """name -> zero-argument function, for the in-process variants."""
    import tfla
    from tfla import _ffi, core
    x = inputs(shape, np.float64)
    cases = {"tfla.forward (numpy, in process)": lambda: tfla.forward(**x, threads=1)}
    # The bare C call: structures built once, only tfla_forward timed.
    prepared = core._Inputs(**x)
    problem = prepared.problem("exp", True, 1e-6)
    options = core.make_options(True, None, threads=1)
    arrays, outputs = core._outputs(prepared, True)  # arrays must outlive the calls
    library = _ffi.lib()
    arguments = (ctypes.byref(problem), ctypes.byref(options), ctypes.byref(outputs))
    cases["tfla_forward (C call through ctypes)"] = lambda: (library.tfla_forward(*arguments), arrays)
    try:
        import torch
        import tfla.torch as tt
        t = {name: torch.from_numpy(value) for name, value in x.items()}

        def torch_forward():
            with torch.no_grad():
                tt.mlstm(**t, threads=1)
        cases["tfla.torch.mlstm (no grad, in process)"] = torch_forward
    except ImportError:
        pass
    return cases


def child(args):
    """One round of every in-process case (json on stdout), for --compare-lib."""
    result = {}
    for shape in SHAPES:
        for name, function in in_process_cases(shape).items():
            result[f"{name}|{' '.join(map(str, shape))}"] = median_call(function, args.calls)
    print(json.dumps(result))


def kernel_seconds(command, shape):
    x = inputs(shape, np.float64)
    return command.forward(**x, threads=1, repeat=200).kernel_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per case and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cli-calls", type=int, default=20, help="timed `tfla run` invocations per shape")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--compare-lib", help="another libtfla_c.so to time against (labelled 'other')")
    parser.add_argument("--compare-python", help="with --compare-lib: a directory holding another tfla package")
    parser.add_argument("--compare-label", default="other library", help="how the CSV names the other variant")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    variants = {"this": (os.environ.get("TFLA_LIB"), None)}
    if args.compare_lib:
        variants["other"] = (args.compare_lib, args.compare_python)
    samples = {}
    for _ in range(args.rounds):
        for variant, (library, python_dir) in variants.items():
            env = dict(os.environ)
            if library:
                env["TFLA_LIB"] = library
            if python_dir:
                env["PYTHONPATH"] = python_dir + os.pathsep + env.get("PYTHONPATH", "")
            output = subprocess.run([sys.executable, __file__, "--child", "--calls", str(args.calls)], env=env,
                                    check=True, capture_output=True, text=True).stdout
            for key, seconds in json.loads(output.strip().splitlines()[-1]).items():
                samples.setdefault((variant, key), []).append(seconds)

    kernels, cli = {}, {}
    if not args.skip_cli:
        from tfla import cli as tfla_cli
        try:
            command = tfla_cli.Tfla()
            for shape in SHAPES:
                kernels[shape] = kernel_seconds(command, shape)
                x = inputs(shape, np.float64)
                cli[shape] = median_call(lambda: command.forward(**x, threads=1), args.cli_calls, warmup=2)
        except tfla_cli.TflaNotFound as error:
            print(f"# the command was not found: {error}", file=sys.stderr)

    print("case,implementation,shape,dtype,threads,median_seconds,overhead_seconds,calls,rounds")

    def row(implementation, shape, seconds, calls, rounds):
        kernel = kernels.get(shape)
        over = "" if kernel is None else f"{seconds - kernel:.6g}"
        print(f"forward_call,{implementation},{' '.join(map(str, shape))},float64,1,{seconds:.6g},{over},"
              f"{calls},{rounds}", flush=True)

    for shape in SHAPES:
        label = ' '.join(map(str, shape))
        for (variant, key), values in samples.items():
            name, key_shape = key.split("|")
            if key_shape == label:
                suffix = "" if variant == "this" else f" [{args.compare_label}]"
                row(name + suffix, shape, statistics.median(values), args.calls, len(values))
        if shape in kernels:
            row("tfla run --repeat (kernel only)", shape, kernels[shape], 200, 1)
            row("tfla run (command, .npy files)", shape, cli[shape], args.cli_calls, 1)


if __name__ == "__main__":
    main()
