"""Where the benchmark scripts find the release build's executables."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def release_bin_path():
    """The bin directory of the release build with this CPU's target flags
    (Scripts/setup/swift-flags.sh), as `make build` / `make bench` produce it."""
    flags = subprocess.run(["bash", "Scripts/setup/swift-flags.sh"], capture_output=True, text=True, cwd=ROOT,
                           check=True).stdout.split()
    return subprocess.run(["swift", "build", "-c", "release", *flags, "--show-bin-path"],
                          capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
