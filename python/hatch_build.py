"""Build hook: puts libtfla_c.so (and, for a binary wheel, the shared
libraries it needs) into the wheel's tfla/_lib.

Where the library comes from:
- TFLA_LIB=/path/to/libtfla_c.so: that file, prebuilt (no Swift needed);
- TFLA_LIB_DIR=/path/to/dir: every file of that folder (what build-wheel.sh
  stages: the library, its bundled dependencies and preload.txt);
- otherwise `swift build -c release $(bash Scripts/setup/swift-flags.sh) --product
  tfla_c` in the repository that holds this folder (python/..).

The wheel is tagged for this platform (py3-none-<platform>): it holds a
native library but no Python extension module, so any Python 3 can load it.
"""
import os
import subprocess
import sys
import sysconfig

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _platform_tag():
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


class TflaBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        if version == "editable":
            # An editable install loads the library from TFLA_LIB at run time.
            return
        files = self._library_files()
        for source, name in files:
            build_data["force_include"][source] = f"tfla/_lib/{name}"
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{_platform_tag()}"

    def _library_files(self):
        directory = os.environ.get("TFLA_LIB_DIR")
        if directory:
            names = sorted(os.listdir(directory))
            if "libtfla_c.so" not in names:
                raise RuntimeError(f"TFLA_LIB_DIR={directory} holds no libtfla_c.so")
            return [(os.path.join(directory, name), name) for name in names]
        library = os.environ.get("TFLA_LIB")
        if library:
            if not os.path.isfile(library):
                raise RuntimeError(f"TFLA_LIB={library} is not a file")
            return [(library, "libtfla_c.so")]
        return [(self._swift_build(), "libtfla_c.so")]

    def _swift_build(self):
        root = os.path.dirname(os.path.abspath(self.root))
        if not os.path.isfile(os.path.join(root, "Package.swift")):
            raise RuntimeError(
                f"no Package.swift in {root}: build from the TFLA repository, or set TFLA_LIB to a "
                "prebuilt libtfla_c.so")
        swift = os.environ.get("SWIFT", "swift")
        flags = subprocess.run(["bash", os.path.join(root, "Scripts", "setup", "swift-flags.sh")], check=True,
                               capture_output=True, text=True).stdout.split()
        command = [swift, "build", "-c", "release", *flags]
        print("tfla: " + " ".join(command + ["--product", "tfla_c"]), file=sys.stderr)
        subprocess.run(command + ["--product", "tfla_c"], cwd=root, check=True)
        bin_path = subprocess.run(command + ["--show-bin-path"], cwd=root, check=True, capture_output=True,
                                  text=True).stdout.strip()
        library = os.path.join(bin_path, "libtfla_c.so")
        if not os.path.isfile(library):
            raise RuntimeError(f"swift build did not produce {library}")
        return library
