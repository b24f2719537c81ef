"""The C fast path built with the compiler's undefined-behaviour sanitizer, in a process of its own: the
number text it reads (the Arrow build's decimal and int64 readers, the staging checks) at and past every
edge, and the single-table stream decoded with default and contract routing. Undefined behaviour there
(a signed overflow, a shift past the width) is what a release build may turn into a wrong value without
any error; built this way, it ends the process with the sanitizer's report."""

from __future__ import annotations

import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytest.importorskip(
    "thermocline.sources.dynamodb_streams._speedups", reason="the C fast path is not built (no compiler?)"
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "layers/thermocline/thermocline/sources/dynamodb_streams/_speedups.c"
MODULE = "thermocline.sources.dynamodb_streams._speedups"

# Runs in the child: the sanitized build stands in for the extension before the decoder imports it.
_CHILD = r"""
import importlib.util, random, sys
spec = importlib.util.spec_from_file_location(MODULE, sys.argv[1])
speedups = importlib.util.module_from_spec(spec)
sys.modules[MODULE] = speedups
spec.loader.exec_module(speedups)
sys.path.insert(0, sys.argv[2] + "/benchmarks")
import single_table
from thermocline.contracts import parse_contracts
from thermocline.sources.dynamodb_streams import decode_batch, fastpath
import yaml

assert fastpath.arrow_column is speedups.arrow_column
rng = random.Random(3)
texts = ["0", "-0", "1E+3", "0E+99", "9" * 38, "-" + "9" * 38, "9" * 39, "9" * 45, "-" + "9" * 60,
         "9" * 19, "9" * 20, "-9223372036854775808", "9223372036854775808", "99999999999999999999",
         "9" * 38 + "E-1", "0." + "9" * 40, "9" * 20 + "." + "9" * 20, "1E+9999", "1E-9999"]
for _ in range(300):
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 50))).lstrip("0") or "0"
    texts.append(rng.choice(["", "-"]) + digits + rng.choice(["", "", "E+5", "E-40", ".5"]))
for precision, scale in [(38, 18), (38, 0), (38, 38), (12, 2), (1, 0)]:
    for text in texts:
        speedups.arrow_column([text, None], 2, 5, precision, scale)  # number text -> decimal128
for text in texts:
    speedups.arrow_column([text], 1, 4, 0, 0)  # number text -> int64

records = single_table.generate_records(2000)
contract = parse_contracts(yaml.safe_load(single_table.CONTRACT))
for contracts in (None, contract):
    items = [{"id": {"S": str(i)}, "amount": {"N": text}, "count": {"N": text}} for i, text in enumerate(texts)]
    numbers = [
        {"eventName": "INSERT", "eventSourceARN": "numbers",
         "dynamodb": {"Keys": {"id": item["id"]}, "NewImage": item, "SequenceNumber": str(i + 1)}}
        for i, item in enumerate(items)
    ]
    assert decode_batch(records + numbers, contracts).tables
print("clean")
"""


@pytest.fixture(scope="module")
def sanitized_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """_speedups.c compiled and linked as the interpreter builds extensions, with -fsanitize=undefined and
    no recovery: the first undefined behaviour aborts the process. -fno-wrapv last: CPython's build flags
    (Debian's LDSHARED among them) and the layer build pass -fwrapv, which defines signed overflow as
    wrapping and so turns the sanitizer's overflow check off; this build holds the code to C's own rules."""
    target = tmp_path_factory.mktemp("ubsan") / "_speedups.so"
    link = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc -shared")
    command = [
        *link,
        "-fPIC",
        "-O1",
        "-g",
        "-fsanitize=undefined",
        "-fno-sanitize-recover=all",
        "-fno-wrapv",
        "-I" + sysconfig.get_paths()["include"],
        str(SOURCE),
        "-o",
        str(target),
    ]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"{shlex.join(command)}\n{built.stderr}"
    return target


def test_the_fast_path_has_no_undefined_behaviour_at_the_edges_of_number_text(sanitized_build: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", f"MODULE = {MODULE!r}\n{_CHILD}", str(sanitized_build), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        cwd=ROOT,
    )
    assert child.returncode == 0 and "runtime error" not in child.stderr, child.stderr[-3000:]
    assert child.stdout.strip() == "clean"
