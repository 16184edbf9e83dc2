"""A minimal PEP 517 build backend for tfla-oracle (pure Python, no
requirements), so that `pip install ./python` works without an index.

It packs `tfla_oracle/*.py` into a wheel with the metadata pyproject.toml
declares. Only what this package needs is supported."""
import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME, DIST, VERSION = "tfla-oracle", "tfla_oracle", "0.1.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: numpy-in, numpy-out access to the tfla mLSTM oracle, with a pytest fixture
Requires-Python: >=3.9
Requires-Dist: numpy
"""
WHEEL = f"""Wheel-Version: 1.0
Generator: tfla_build {VERSION}
Root-Is-Purelib: true
Tag: py3-none-any
"""
ENTRY_POINTS = "[pytest11]\ntfla_oracle = tfla_oracle.pytest_plugin\n"


def _sources():
    package = os.path.join(ROOT, DIST)
    return sorted(f"{DIST}/{name}" for name in os.listdir(package) if name.endswith(".py"))


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = f"{DIST}-{VERSION}.dist-info"
    files = [(path, open(os.path.join(ROOT, path), "rb").read()) for path in _sources()]
    files += [(f"{info}/METADATA", METADATA.encode()), (f"{info}/WHEEL", WHEEL.encode()),
              (f"{info}/entry_points.txt", ENTRY_POINTS.encode())]
    record = "\n".join(_record_line(p, d) for p, d in files) + f"\n{info}/RECORD,,\n"
    name = f"{DIST}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files:
            wheel.writestr(path, data)
        wheel.writestr(f"{info}/RECORD", record)
    return name


def build_sdist(sdist_directory, config_settings=None):
    base = f"{DIST}-{VERSION}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as sdist:
        for path in ["pyproject.toml", "README.md", "_build/tfla_build.py", *_sources()]:
            sdist.add(os.path.join(ROOT, path), arcname=f"{base}/{path}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    return name
