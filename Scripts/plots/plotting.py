"""What the bf16 plot scripts share: the repository root, matplotlib without
a display, saving a figure under Docs/plots/, and reading the medians of
tfla-bench's text output and of Scripts/bench/bench-pytorch.py's CSV."""
import csv
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pyplot():
    """matplotlib.pyplot, drawing to files only."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, name, dpi=110):
    """Lays the figure out and writes Docs/plots/<name>."""
    fig.tight_layout()
    out = os.path.join(ROOT, "Docs", "plots", name)
    fig.savefig(out, dpi=dpi)
    print(f"wrote {os.path.relpath(out, ROOT)}")


def tfla_bench_medians(path, shape="xlstm-7b-head"):
    """The median column (ms) of every result row of `shape` in a tfla-bench
    text output, one per invocation."""
    with open(path) as handle:
        return [float(line.split()[6]) for line in handle if line.startswith(shape)]


def torch_median_ms(path):
    """The first row's median (ms) in a bench-pytorch.py CSV."""
    with open(path) as handle:
        return float(next(csv.DictReader(handle))["median_s"]) * 1e3
