"""Check that a built layer runs on its Lambda platform: ``python scripts/check_native.py SITE --architecture
arm64 --runtime python3.13 [--extension thermocline.sources.dynamodb_streams._speedups] [--bytecode]``.

Reads the files, runs none of them, so any build host can check any target. Fails (exit 1), naming each
file, when:

* a native file (ELF magic, or a ``.so``/``.dylib``/``.pyd`` name) is not a 64-bit little-endian ELF file for
  the target's machine (a macOS or Windows binary, an x86_64 file in an arm64 layer, ...);
* an ELF file needs a glibc symbol version newer than the runtime's (read from ``.gnu.version_r``);
* an extension module's file name is tagged for another Python or machine, so it would never be imported;
* ``--extension M``: module ``M`` is missing as ``M<EXT_SUFFIX>`` of the target;
* ``--bytecode``: a module has no ``__pycache__/<name>.cpython-3XY.pyc`` for the target Python, or a
  ``.pyc`` is tagged for another one.
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import elf_file  # noqa: E402
from lambda_platform import PlatformError, Target  # noqa: E402

NATIVE_NAMES = re.compile(r"\.(so(\.\d+)*|dylib|pyd|dll)$")
EXT_TAG = re.compile(r"\.cpython-(?P<version>\d+)t?-(?P<machine>[a-z0-9_]+)-(?P<os>[a-z0-9_-]+)\.so$")
PYC_TAG = re.compile(r"\.(?P<tag>[a-z]+-\d+)(\.opt-\d)?\.pyc$")
GLIBC = re.compile(rb"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")
SHT_GNU_VERNEED = 0x6FFFFFFE


def elf_facts(path: Path) -> tuple[int, tuple[int, int] | None]:
    """(e_machine, the newest ``GLIBC_x.y`` symbol version it needs, or None). Raises ValueError when the
    file is not a 64-bit little-endian ELF file, as every Lambda platform's are."""
    data = path.read_bytes()
    table = elf_file.sections(data)
    (machine,) = struct.unpack_from("<H", data, 18)
    newest: tuple[int, int] | None = None
    for section in table:
        if section.type != SHT_GNU_VERNEED:
            continue
        strings = table[section.link].offset
        entry = section.offset
        for _ in range(section.info):  # Elf64_Verneed, then its Elf64_Vernaux entries
            _version, aux_count, _file, aux, following = struct.unpack_from("<HHIII", data, entry)
            at = entry + aux
            for _ in range(aux_count):
                _hash, _aflags, _other, name, aux_next = struct.unpack_from("<IHHII", data, at)
                match = GLIBC.match(elf_file.cstring(data, strings + name))
                if match:
                    newest = max(newest or (0, 0), (int(match[1]), int(match[2])))
                at += aux_next
            entry += following
    return machine, newest


def native_problems(site: Path, target: Target) -> tuple[int, list[str]]:
    checked = 0
    problems = []
    for dirpath, _dirs, files in os.walk(site):
        for name in files:
            path = Path(dirpath, name)
            if path.is_symlink() or not (NATIVE_NAMES.search(name) or elf_file.is_elf(path)):
                continue
            rel = path.relative_to(site)
            checked += 1
            try:
                machine, glibc = elf_facts(path)
            except (ValueError, struct.error) as exc:
                problems.append(f"{rel}: {exc}")
                continue
            if machine != target.elf_machine:
                problems.append(f"{rel}: ELF machine {machine}, not {target.machine} ({target.elf_machine})")
            if glibc and glibc > target.glibc:
                problems.append(
                    f"{rel}: needs GLIBC_{glibc[0]}.{glibc[1]}, {target.runtime} has {'.'.join(map(str, target.glibc))}"
                )
            tag = EXT_TAG.search(name)
            if tag and name != tag.string[: tag.start()] + target.ext_suffix:
                problems.append(f"{rel}: named for another platform; {target} imports *{target.ext_suffix}")
    return checked, problems


def bytecode_problems(site: Path, target: Target) -> tuple[int, list[str]]:
    modules = 0
    problems = []
    for source in site.rglob("*.py"):
        modules += 1
        if not (source.parent / "__pycache__" / f"{source.stem}.{target.cache_tag}.pyc").is_file():
            problems.append(f"{source.relative_to(site)}: no {target.cache_tag} bytecode")
    for pyc in site.rglob("*.pyc"):
        match = PYC_TAG.search(pyc.name)
        if not match or match["tag"] != target.cache_tag:
            problems.append(f"{pyc.relative_to(site)}: bytecode for another Python than {target.runtime}")
    return modules, problems


def check(site: Path, target: Target, *, extensions: list[str], bytecode: bool) -> list[str]:
    """Every problem found in ``site`` for ``target``; prints what was checked."""
    checked, problems = native_problems(site, target)
    for module in extensions:
        path = target.extension_path(site, module)
        if not path.is_file():
            problems.append(f"{path.relative_to(site)}: missing (extension {module} for {target})")
    summary = f"{checked} native files for {target.machine}, glibc <= {'.'.join(map(str, target.glibc))}"
    if bytecode:
        modules, found = bytecode_problems(site, target)
        problems += found
        summary += f"; {modules} modules with {target.cache_tag} bytecode"
    if extensions:
        summary += f"; extensions {', '.join(extensions)}"
    print(f"check_native: {'FAILED' if problems else 'ok'}: {site}: {summary}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="a layer's python/ directory")
    parser.add_argument("--architecture", default=os.environ.get("LAMBDA_ARCHITECTURE") or "x86_64")
    parser.add_argument("--runtime", default=os.environ.get("LAMBDA_RUNTIME") or "python3.12")
    parser.add_argument("--extension", action="append", default=[], help="a module that must be native")
    parser.add_argument("--bytecode", action="store_true", help="every module must have target bytecode")
    args = parser.parse_args(argv)
    try:
        target = Target.of(args.architecture, args.runtime)
    except PlatformError as exc:
        print(f"check_native: {exc}", file=sys.stderr)
        return 2
    problems = check(args.site, target, extensions=args.extension, bytecode=args.bytecode)
    for problem in problems:
        print(f"check_native: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
