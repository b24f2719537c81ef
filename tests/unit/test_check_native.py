"""scripts/check_native.py refuses a layer that would not load on its Lambda platform, naming the file.

The ELF files here are written byte by byte (header, ``.dynstr``, ``.gnu.version_r``), so every case is the
same on any build host; the real layers are checked by ``make layer-size`` and CI for both platforms.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
X86_64, AARCH64 = 62, 183


def elf(machine: int, glibc: str) -> bytes:
    """A 64-bit little-endian shared object needing ``GLIBC_<glibc>`` from libc.so.6."""
    dynstr = b"\0libc.so.6\0GLIBC_" + glibc.encode() + b"\0"
    verneed = struct.pack("<HHIII", 1, 1, 1, 16, 0) + struct.pack("<IHHII", 0, 0, 2, 11, 0)
    header_size, section_size = 64, 64
    dynstr_at = header_size
    verneed_at = dynstr_at + len(dynstr)
    sections_at = verneed_at + len(verneed)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 3, machine, 1, 0, 0, sections_at, 0, header_size, 0, 0, section_size, 3, 0
    )
    sections = bytes(section_size)
    sections += struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, dynstr_at, len(dynstr), 0, 0, 1, 0)
    sections += struct.pack("<IIQQQQIIQQ", 0, 0x6FFFFFFE, 0, 0, verneed_at, len(verneed), 1, 1, 8, 0)
    return header + dynstr + verneed + sections


def check(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_native.py"), str(site), *args],
        capture_output=True,
        text=True,
    )


def test_a_layer_built_for_its_platform_passes(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "_fast.cpython-312-x86_64-linux-gnu.so").write_bytes(elf(X86_64, "2.17"))
    (tmp_path / "pkg" / "libdep.so.1").write_bytes(elf(X86_64, "2.34"))
    result = check(
        tmp_path, "--architecture", "x86_64", "--runtime", "python3.12", "--extension", "pkg._fast"
    )
    assert result.returncode == 0, result.stderr
    assert "2 native files for x86_64" in result.stdout


def test_an_x86_64_file_in_an_arm64_layer_is_named(tmp_path: Path) -> None:
    (tmp_path / "libdep.so.1").write_bytes(elf(X86_64, "2.17"))
    (tmp_path / "libok.so").write_bytes(elf(AARCH64, "2.17"))
    result = check(tmp_path, "--architecture", "arm64", "--runtime", "python3.13")
    assert result.returncode == 1
    assert "libdep.so.1: ELF machine 62, not aarch64" in result.stderr
    assert "libok.so" not in result.stderr


def test_a_file_needing_a_newer_glibc_than_the_runtime_is_named(tmp_path: Path) -> None:
    (tmp_path / "libnew.so").write_bytes(elf(AARCH64, "2.38"))
    result = check(tmp_path, "--architecture", "arm64", "--runtime", "python3.12")
    assert result.returncode == 1
    assert "libnew.so: needs GLIBC_2.38, python3.12 has 2.34" in result.stderr


def test_a_macos_build_or_a_module_named_for_another_python_is_refused(tmp_path: Path) -> None:
    (tmp_path / "_a.cpython-312-darwin.so").write_bytes(b"\xcf\xfa\xed\xfe" + bytes(60))
    (tmp_path / "_b.cpython-313-x86_64-linux-gnu.so").write_bytes(elf(X86_64, "2.17"))
    result = check(tmp_path, "--architecture", "x86_64", "--runtime", "python3.12")
    assert result.returncode == 1
    assert "_a.cpython-312-darwin.so: not a 64-bit little-endian ELF file" in result.stderr
    assert "_b.cpython-313-x86_64-linux-gnu.so: named for another platform" in result.stderr


def test_a_missing_extension_or_missing_bytecode_fails(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("")
    (tmp_path / "pkg" / "b.py").write_text("")
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-313.pyc").write_bytes(b"")
    (tmp_path / "pkg" / "__pycache__" / "b.cpython-312.pyc").write_bytes(b"")
    result = check(
        tmp_path,
        "--architecture",
        "arm64",
        "--runtime",
        "python3.13",
        "--extension",
        "pkg._fast",
        "--bytecode",
    )
    assert result.returncode == 1
    assert "pkg/_fast.cpython-313-aarch64-linux-gnu.so: missing" in result.stderr
    assert "pkg/b.py: no cpython-313 bytecode" in result.stderr
    assert "b.cpython-312.pyc: bytecode for another Python" in result.stderr
    assert "pkg/a.py" not in result.stderr
