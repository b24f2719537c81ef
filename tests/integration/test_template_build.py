"""The layer build's trimming keeps what pyarrow loads and drops what Lambda already has or we never use.

The build itself (``make build``: sam-cli, pip for the Lambda platform), the native-file check for each
platform and the smoke test of the built layer (``make layer-size``) run in CI; this checks the trimming rules on a layer-shaped directory.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from thermocline.local.template import repo_root


def _trim_layer() -> ModuleType:
    path = repo_root() / "scripts" / "trim_layer.py"
    spec = importlib.util.spec_from_file_location("trim_layer", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _touch(path: Path, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)


def test_trim_keeps_the_loaded_libraries_and_drops_the_rest(tmp_path: Path) -> None:
    site = tmp_path / "python"
    keep = [
        "pyarrow/__init__.py",
        "pyarrow/parquet/core.py",
        "pyarrow/lib.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/_parquet.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/libarrow.so.2600",
        "pyarrow/libparquet.so.2600",
        "pyarrow/libarrow_python.so.2600",
        "pydantic_core/_pydantic_core.cpython-312-x86_64-linux-gnu.so",
        "yaml/__init__.py",
        "thermocline/__init__.py",
        "aws_xray_sdk/core/__init__.py",
    ]
    drop = [
        "pyarrow/libarrow_python.so",
        "pyarrow/libarrow_python.so.2600.1.0",
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/_flight.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/libarrow_s3.so.2600",
        "pyarrow/_s3fs.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/tests/test_array.py",
        "pyarrow/include/arrow/api.h",
        "pyarrow/lib.pyx",
        "pyarrow/__pycache__/__init__.cpython-311.pyc",
        "botocore/__init__.py",
        "boto3/__init__.py",
        "boto3-1.44.8.dist-info/METADATA",
        "python_dateutil-2.9.0.dist-info/METADATA",
        "dateutil/__init__.py",
        "six.py",
        "bin/jp.py",
    ]
    for name in keep + drop:
        _touch(site / name)
    record = site / "pyarrow-26.0.1.dist-info" / "RECORD"
    record.parent.mkdir(parents=True)
    record.write_text(
        "pyarrow/__init__.py,sha256=a,10\npyarrow/tests/test_array.py,sha256=b,10\n"
        '"pyarrow/lib,with comma.py",sha256=c,10\n../../bin/jp.py,sha256=d,10\npyarrow-26.0.1.dist-info/RECORD,,\n'
    )
    _trim_layer().trim(site)  # the fake .so files are not ELF: nothing to strip

    assert [n for n in keep if not (site / n).exists()] == []
    assert [n for n in drop if (site / n).exists()] == []
    # RECORD keeps the files still there (the console script's row named the build host's interpreter).
    assert record.read_text() == "pyarrow/__init__.py,sha256=a,10\npyarrow-26.0.1.dist-info/RECORD,,\n"
