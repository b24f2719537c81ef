"""Trim a built layer's ``python/`` directory to what Thermocline uses inside Lambda.

Used by ``scripts/build_layer.py`` (``trim(site)``). What goes, and why:

* boto3, botocore and their dependencies: the Lambda Python runtime ships them (aws-xray-sdk pulls them in).
* pyarrow's Flight, S3/GCS/Azure/HDFS filesystems, ORC, Substrait's Python module, CUDA, its C++ tests,
  headers and Cython sources: nothing here uses them. Parquet, compute, dataset and acero stay
  (``pyarrow.lib`` itself links libarrow_substrait, libarrow_dataset and libarrow_acero).
* Duplicate shared libraries: wheels cannot hold symlinks, so ``libX.so``, ``libX.so.N`` and
  ``libX.so.N.M.P`` are three copies; the extension modules load ``libX.so.N`` (their DT_NEEDED), the
  others are link-time names.
* RECORD rows of the files removed (pip's console scripts name the build host's interpreter).
* Byte-code caches (the build compiles the target's afterwards), and the static symbols and debug sections
  of shared libraries (``elf_file.strip``: in Python, so the layer is the same from every build host).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import elf_file  # noqa: E402

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
DIST_INFO = re.compile(r"^(?P<name>[A-Za-z0-9_.]+?)-[0-9][^-]*\.dist-info$")
PYARROW_UNUSED = (
    "tests",
    "include",
    "includes",
    "src",
    "_flight*",
    "flight.py",
    "libarrow_flight.so*",
    "libarrow_python_flight.so*",
    "_s3fs*",
    "libarrow_s3.so*",
    "_gcsfs*",
    "_azurefs*",
    "_hdfs*",
    "_orc*",
    "orc.py",
    "_dataset_orc*",
    "_substrait*",
    "substrait.py",
    "_cuda*",
    "cuda.py",
    "jvm.py",
    "_pyarrow_cpp_tests*",
    "conftest.py",
    "*.pyx",
    "*.pxd",
    "*.pxi",
)
SONAME = re.compile(r"^(?P<base>lib.+\.so)(?P<version>(\.\d+)*)$")


def remove(path: Path) -> int:
    """Delete a file or tree; return the bytes freed."""
    if path.is_dir() and not path.is_symlink():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        shutil.rmtree(path)
        return size
    size = path.lstat().st_size
    path.unlink()
    return size


def runtime_provided(site: Path) -> int:
    freed = 0
    for path in site.iterdir():
        match = DIST_INFO.match(path.name)
        name = match["name"].lower().replace("-", "_") if match else path.name.removesuffix(".py")
        if name in RUNTIME_PROVIDED or name == "python_dateutil":
            freed += remove(path)
    # Console scripts of the installed packages: nothing runs them inside Lambda.
    if (site / "bin").is_dir():
        freed += remove(site / "bin")
    return freed


def pyarrow_unused(site: Path) -> int:
    package = site / "pyarrow"
    if not package.is_dir():
        return 0
    freed = 0
    for pattern in PYARROW_UNUSED:
        for path in package.glob(pattern):
            if path.exists():
                freed += remove(path)
    return freed


def duplicate_libraries(site: Path) -> int:
    """Keep one copy of each shared library: the ``libX.so.N`` name the loader asks for."""
    freed = 0
    groups: dict[Path, list[Path]] = {}
    for path in site.rglob("lib*.so*"):
        match = SONAME.match(path.name)
        if match and path.is_file():
            groups.setdefault(path.parent / match["base"], []).append(path)
    for copies in groups.values():
        soname = [p for p in copies if SONAME.match(p.name)["version"].count(".") == 1]  # type: ignore[index]
        if len(copies) > 1 and soname:
            freed += sum(remove(p) for p in copies if p != soname[0])
    return freed


def caches(site: Path) -> int:
    return sum(remove(p) for p in list(site.rglob("__pycache__")) if p.exists())


def records(site: Path) -> int:
    """Keep each package's RECORD to the files still in the layer. It also listed the console scripts pip
    wrote with the build host's interpreter in their first line (and their hashes), so the layer's bytes
    depended on the host."""
    freed = 0
    for record in site.glob("*.dist-info/RECORD"):
        text = record.read_text()
        rows = [
            row for row in csv.reader(io.StringIO(text)) if row and (record.parent.parent / row[0]).exists()
        ]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        record.write_text(out.getvalue())
        freed += len(text.encode()) - len(out.getvalue().encode())
    return freed


def strip_symbols(site: Path) -> int:
    return sum(
        elf_file.strip(p)
        for p in site.rglob("*.so*")
        if p.is_file() and not p.is_symlink() and elf_file.is_elf(p)
    )


def size(site: Path) -> int:
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())


def trim(site: Path) -> None:
    """Run every step on ``site`` (a layer's python/ directory), whatever its target."""
    start = size(site)
    for step in (runtime_provided, pyarrow_unused, duplicate_libraries, caches, records):
        freed = step(site)
        print(f"trim_layer: {step.__name__:<20} -{freed / 2**20:7.1f} MB")
    freed = strip_symbols(site)
    print(f"trim_layer: {'strip_symbols':<20} -{freed / 2**20:7.1f} MB")
    print(f"trim_layer: {start / 2**20:.1f} MB -> {size(site) / 2**20:.1f} MB")
