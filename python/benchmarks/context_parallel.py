"""Context parallelism on one machine: one sequence split over 1, 2, 4
processes (gloo over loopback), the forward's wall time per rank and the
time of the exchange (one all_gather of one message per rank) alone.

    python python/benchmarks/context_parallel.py [--tokens S] [--heads NH] [--dqk D] [--dhv D] [--worlds 1,2,4]
                                                 [--backward] [--exchange all_gather|chain]

Prints CSV: world, tokens per rank, seconds of the forward (slowest rank, median of
--repeat; with --backward the training forward and the backward),
the exchange's messages alone (median: the all_gather, or the chain's hops
and broadcast), message bytes per rank. Each rank
uses max(1, cores // world) threads; on a machine with fewer cores than
processes the ranks share cores, and the forward cannot speed up.
"""
import argparse
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port():
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def worker(rank, world, port, args, queue):
    import tfla.torch as tt
    threads = max(1, (os.cpu_count() or 1) // world)
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    S = args.tokens // world
    generator = torch.Generator().manual_seed(rank)
    shape = (1, args.heads, S)
    q = torch.randn(*shape, args.dqk, generator=generator)
    k = torch.randn(*shape, args.dqk, generator=generator)
    v = torch.randn(*shape, args.dhv, generator=generator)
    i = torch.randn(*shape, generator=generator)
    f = 3 + torch.randn(*shape, generator=generator)
    message = torch.zeros(args.heads * (2 + args.dqk * args.dhv + args.dqk), dtype=torch.float64)
    forward, gather = [], []
    if args.backward:
        for x in (q, k, v, i, f):
            x.requires_grad_(True)
        dh = torch.randn(*shape, args.dhv, generator=generator)
    with torch.set_grad_enabled(args.backward):
        for repeat in range(args.repeat + 1):
            dist.barrier()
            start = time.perf_counter()
            h = tt.context_parallel_chunkwise(q, k, v, i, f, return_last_states=False, threads=threads,
                                              exchange=args.exchange)
            if args.backward:
                h.backward(dh)
            elapsed = torch.tensor([time.perf_counter() - start])
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
            parts = [torch.empty_like(message) for _ in range(world)]
            dist.barrier()
            start = time.perf_counter()
            if args.exchange == "all_gather":
                dist.all_gather(parts, message)
            elif world > 1:  # the chain's messages alone: R - 1 hops and the final state's broadcast
                if rank > 0:
                    dist.recv(parts[0], rank - 1)
                if rank < world - 1:
                    dist.send(message, rank + 1)
                dist.broadcast(parts[1], world - 1)
            gathered = torch.tensor([time.perf_counter() - start])
            dist.all_reduce(gathered, op=dist.ReduceOp.MAX)
            h = None
            if repeat:  # the first is a warm-up
                forward.append(float(elapsed))
                gather.append(float(gathered))
    if rank == 0:
        queue.put((statistics.median(forward), statistics.median(gather), message.numel() * 8))
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=65536)
    parser.add_argument("--heads", type=int, default=1)
    parser.add_argument("--dqk", type=int, default=256)
    parser.add_argument("--dhv", type=int, default=512)
    parser.add_argument("--worlds", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backward", action="store_true", help="time the training forward and the backward")
    parser.add_argument("--exchange", default="all_gather", choices=["all_gather", "chain"])
    args = parser.parse_args()
    context = mp.get_context("spawn")
    print("exchange,world,tokens_per_rank,seconds,exchange_s,message_bytes")
    for world in (int(w) for w in args.worlds.split(",")):
        queue = context.SimpleQueue()
        mp.spawn(worker, args=(world, free_port(), args, queue), nprocs=world)
        forward, gather, size = queue.get()
        print(f"{args.exchange},{world},{args.tokens // world},{forward:.4f},{gather:.6f},{size}", flush=True)


if __name__ == "__main__":
    main()
