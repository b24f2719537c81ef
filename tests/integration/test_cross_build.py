"""Real cross builds with the layer build's own code: Zig's C compiler (the ``ziglang`` wheel, installed into
.aws-sam/tools on first use) and the headers of a CPython of the target version on this host.

Here the build host is Linux x86_64 running CPython 3.11, so every target below differs from it in Python
version, and arm64 in machine too; the host's own ``sysconfig`` is replaced by a macOS or Linux aarch64
host's, to show the result never reads it. ``make layer-size`` (in CI for x86_64/python3.12 and
arm64/python3.13) builds and checks the whole layer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from thermocline.local.template import repo_root
from thermocline.sources.dynamodb_streams import super_json

SCRIPTS = repo_root() / "scripts"
SPEEDUPS = repo_root() / "layers/thermocline/thermocline/sources/dynamodb_streams/_speedups.c"
MODULE = "thermocline.sources.dynamodb_streams._speedups"
X86_64, AARCH64 = 62, 183


@pytest.fixture(scope="module")
def build() -> Iterator[ModuleType]:
    sys.path.insert(0, str(SCRIPTS))
    try:
        import build_layer

        yield build_layer
    finally:
        sys.path.remove(str(SCRIPTS))


def headers(build: ModuleType, target: object) -> tuple[str, Path]:
    found = build.target_python(target)
    assert found, f"no CPython {target} with headers on this host (pyenv install it, as `make build` needs)"
    return found


def cross_build(build: ModuleType, site: Path, source: Path, include: Path, target: object) -> Path:
    return build.build_extension(site, MODULE, source, include, target)


@pytest.mark.parametrize(
    ("architecture", "runtime", "host_suffix"),
    [
        ("arm64", "python3.13", ".cpython-311-darwin.so"),
        ("x86_64", "python3.12", ".cpython-311-aarch64-linux-gnu.so"),
    ],
)
def test_the_fast_path_is_built_for_the_target_and_byte_for_byte_the_same_from_anywhere(
    build: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    architecture: str,
    runtime: str,
    host_suffix: str,
) -> None:
    import check_native
    from lambda_platform import Target

    target = Target.of(architecture, runtime)
    _python, include = headers(build, target)
    real = sysconfig.get_config_var
    monkeypatch.setattr(
        sysconfig, "get_config_var", lambda name: host_suffix if name == "EXT_SUFFIX" else real(name)
    )

    first = cross_build(build, tmp_path / "a" / "python", SPEEDUPS, include, target)
    # The same source and headers from other folders, with spaces in their names: the same file.
    elsewhere = tmp_path / "another checkout"
    shutil.copytree(include, elsewhere / "include dir")
    for part in [*SPEEDUPS.parent.glob("*.c"), *SPEEDUPS.parent.glob("*.h")]:
        shutil.copy(part, elsewhere / part.name)
    second = cross_build(
        build, tmp_path / "b b" / "python", elsewhere / "_speedups.c", elsewhere / "include dir", target
    )

    tag = runtime.removeprefix("python").replace(".", "")
    assert first.name == f"_speedups.cpython-{tag}-{target.machine}-linux-gnu.so"
    assert not first.name.endswith(host_suffix)
    machine, glibc = check_native.elf_facts(first)
    assert machine == {"x86_64": X86_64, "arm64": AARCH64}[architecture]
    assert glibc is not None and glibc <= (2, 34)
    assert first.read_bytes() == second.read_bytes()
    assert check_native.check(tmp_path / "a" / "python", target, extensions=[MODULE], bytecode=False) == []


def test_the_x86_64_build_loads_in_the_target_cpython_and_agrees_with_the_reference(
    build: ModuleType, tmp_path: Path
) -> None:
    from lambda_platform import Target

    target = Target.of("x86_64", "python3.12")
    python, include = headers(build, target)
    built = cross_build(build, tmp_path / "python", SPEEDUPS, include, target)
    sample = {"a": {"N": "1.50"}, "b": {"L": [{"S": 'x"'}, {"BOOL": True}, {"NULL": True}]}}
    load = (
        "import importlib.machinery as m, importlib.util as u, json, sys\n"
        "loader = m.ExtensionFileLoader('_speedups', sys.argv[1])\n"
        "mod = u.module_from_spec(u.spec_from_loader('_speedups', loader))\n"
        "loader.exec_module(mod)\n"
        "print(mod.super_json('M', json.loads(sys.argv[2])))\n"
    )
    out = subprocess.run(
        [python, "-I", "-c", load, str(built), json.dumps(sample)], capture_output=True, text=True, check=True
    )
    assert out.stdout.rstrip("\n") == super_json._json_value("M", sample)


LIBRARY = """
#include <string.h>
int answer(void) { return 42; }
"""
NEEDS_GLIBC_2_38 = """
#include <string.h>
size_t copy(char *to, const char *from, size_t n) { return strlcpy(to, from, n); }
"""


def zig_cc(build: ModuleType, tmp_path: Path, source: str, zig_target: str, *flags: str) -> Path:
    command, env = build.zig()
    c = tmp_path / f"{zig_target}.c"
    c.write_text(source)
    out = tmp_path / f"lib{zig_target}.so"
    subprocess.run(
        [*command, "cc", "-target", zig_target, "-shared", "-fPIC", *flags, str(c), "-o", str(out)],
        env=env,
        check=True,
    )
    return out


def test_the_check_names_real_files_of_another_machine_or_a_newer_glibc(
    build: ModuleType, tmp_path: Path
) -> None:
    site = tmp_path / "python"
    site.mkdir()
    shutil.copy(zig_cc(build, tmp_path, LIBRARY, "aarch64-linux-gnu.2.34"), site / "libother.so")
    shutil.copy(zig_cc(build, tmp_path, NEEDS_GLIBC_2_38, "x86_64-linux-gnu.2.38"), site / "libnew.so")
    shutil.copy(zig_cc(build, tmp_path, LIBRARY, "x86_64-linux-gnu.2.34"), site / "libfine.so")
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "check_native.py"),
            str(site),
            "--architecture",
            "x86_64",
            "--runtime",
            "python3.12",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "libother.so: ELF machine 183, not x86_64" in result.stderr
    assert "libnew.so: needs GLIBC_2.38, python3.12 has 2.34" in result.stderr
    assert "libfine.so" not in result.stderr
    assert "3 native files" in result.stdout


def test_stripping_keeps_what_the_loader_reads_and_is_the_same_everywhere(
    build: ModuleType, tmp_path: Path
) -> None:
    import ctypes

    import elf_file

    library = zig_cc(build, tmp_path, LIBRARY, "x86_64-linux-gnu.2.34", "-g", "-O1")
    before = library.read_bytes()
    names = set(elf_file.section_names(before))

    freed = elf_file.strip(library)
    after = library.read_bytes()
    left = set(elf_file.section_names(after))

    assert b".symtab" in names and any(n.startswith(b".debug") for n in names)
    assert freed == len(before) - len(after) > 0
    assert b".symtab" not in left and not any(n.startswith(b".debug") for n in left)
    assert {b".dynsym", b".dynstr", b".text"} <= left
    assert elf_file.stripped(after) is None  # nothing left to strip: a second pass changes nothing
    assert elf_file.stripped(before) == after  # the same bytes every time
    assert ctypes.CDLL(str(library)).answer() == 42


def test_the_layers_bytecode_names_lambdas_paths_and_is_the_same_from_any_folder(
    build: ModuleType, tmp_path: Path
) -> None:
    from lambda_platform import Target

    python, _include = headers(build, Target.of("x86_64", "python3.12"))
    package = repo_root() / "layers/thermocline/thermocline"
    builds = []
    for name in ("one", "two words"):
        site = tmp_path / name / "python"
        shutil.copytree(package, site / "thermocline", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        build.compile_bytecode(site, python)
        builds.append({p.relative_to(site): p.read_bytes() for p in sorted(site.rglob("*.pyc"))})
    assert len(builds[0]) > 100
    assert builds[0] == builds[1]
    init = builds[0][Path("thermocline/__pycache__/__init__.cpython-312.pyc")]
    assert b"/opt/python/thermocline/__init__.py" in init and str(tmp_path).encode() not in init


def test_debian_and_ubuntu_headers_serve_a_cross_build(build: ModuleType, tmp_path: Path) -> None:
    """Debian's python3.X-dev puts pyconfig.h under /usr/include/<multiarch>/ behind a switch on the machine
    being compiled for; an x86_64 host's headers then have nothing for an arm64 build, unless the build uses
    the host's own pyconfig.h (its ABI is a 64-bit Linux one either way)."""
    from lambda_platform import Target

    target = Target.of("arm64", "python3.13")
    _python, include = headers(build, target)
    usr = tmp_path / "usr" / "include"
    shutil.copytree(include, usr / "python3.13")
    (usr / "x86_64-linux-gnu" / "python3.13").mkdir(parents=True)
    shutil.move(usr / "python3.13" / "pyconfig.h", usr / "x86_64-linux-gnu" / "python3.13" / "pyconfig.h")
    (usr / "python3.13" / "pyconfig.h").write_text(
        "#if defined(__x86_64__) && defined(__LP64__)\n#include <x86_64-linux-gnu/python3.13/pyconfig.h>\n"
        "#elif defined(__aarch64__) && defined(__AARCH64EL__)\n#include <aarch64-linux-gnu/python3.13/pyconfig.h>\n"
        "#else\n#error unknown multiarch location for pyconfig.h\n#endif\n"
    )

    with pytest.raises(subprocess.CalledProcessError):  # the switch as it is: no aarch64 pyconfig.h here
        cross_build(build, tmp_path / "as-is" / "python", SPEEDUPS, usr / "python3.13", target)
    usable, pyconfig = build.usable_headers(usr / "python3.13", "x86_64-linux-gnu", tmp_path / "tools")
    assert pyconfig == usr / "x86_64-linux-gnu" / "python3.13" / "pyconfig.h"
    assert build._pyconfig_problems(pyconfig) == []
    debian = cross_build(build, tmp_path / "debian" / "python", SPEEDUPS, usable, target)
    direct = cross_build(build, tmp_path / "direct" / "python", SPEEDUPS, include, target)
    assert debian.read_bytes() == direct.read_bytes()
