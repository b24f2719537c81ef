"""Build a Lambda layer's ``python/`` directory for one Lambda platform, from any build host, without Docker.

Usage (what ``layers/*/Makefile`` runs under ``sam build``)::

    python scripts/build_layer.py SITE -r requirements.txt [--package DIR] [--drop REL]
        [--extension MODULE=SOURCE.c] [--architecture x86_64|arm64] [--runtime python3.12|python3.13]

The platform defaults to ``$LAMBDA_ARCHITECTURE`` and ``$LAMBDA_RUNTIME`` (``make build ARCH=... RUNTIME=...``
sets both and passes the same values to the template's parameters). Steps:

1. wheels for the target (``pip --platform/--python-version``), so no matching local interpreter is needed;
2. the project's packages, copied;
3. C extensions cross-compiled by Zig's C compiler (the ``ziglang`` wheel) against the runtime's glibc, with
   the headers of a CPython of the target version found on this host;
4. ``trim_layer.py`` (what Lambda does not use), static symbols and debug sections stripped by
   ``elf_file.py`` (in Python: the same bytes from every host, where strip tools differ or are missing);
5. bytecode for the target Python (``unchecked-hash``: the layer is read-only and immutable, so Lambda
   never compiles at cold start and never checks source timestamps, which zip archives round);
6. ``check_native.py``: every native file matches the target.

Without a CPython of the target version (steps 3 and 5) the build fails, naming what to install, unless
``THERMOCLINE_ALLOW_SLOW_LAYER=1``: then the layer decodes on the pure-Python path and compiles its
bytecode at every cold start, and the build says so.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import check_native  # noqa: E402
import trim_layer  # noqa: E402
from lambda_platform import PlatformError, Target  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ZIGLANG = "ziglang==0.17.1"
TOOLS = ROOT / ".aws-sam" / "tools"
ALLOW_SLOW = "THERMOCLINE_ALLOW_SLOW_LAYER"
# The ABI of a CPython build that decides how an extension compiled against its headers must look; a host
# interpreter's headers serve a Linux target when these agree with a 64-bit Linux release build.
ABI_MACROS = {"SIZEOF_VOID_P": "8", "SIZEOF_LONG": "8", "SIZEOF_WCHAR_T": "4"}
ABI_UNDEFINED = ("Py_DEBUG", "Py_TRACE_REFS", "Py_GIL_DISABLED")


class BuildError(RuntimeError):
    """The layer cannot be built as asked; the message says what to do."""


def say(message: str) -> None:
    print(f"build_layer: {message}", flush=True)


def pip_arguments(site: Path, requirements: Path, target: Target) -> list[str]:
    """``pip install`` arguments that choose every wheel by the target alone. Without ``--abi`` pip takes the
    ABI's flags (debug ``d``, free-threaded ``t``) from the Python running it, so a host's debug or
    free-threaded interpreter would fetch wheels Lambda's CPython cannot import."""
    platforms = [arg for tag in target.wheel_platforms for arg in ("--platform", tag)]
    return (
        ["install", "--quiet", "--disable-pip-version-check", "--no-warn-conflicts", "--no-compile"]
        + ["--implementation", "cp", "--python-version", target.python_version, "--abi", target.abi]
        + ["--only-binary=:all:", *platforms, "--target", str(site), "-r", str(requirements)]
    )


def install_wheels(site: Path, requirements: list[Path], target: Target) -> None:
    for req in requirements:
        subprocess.run([sys.executable, "-m", "pip", *pip_arguments(site, req, target)], check=True)


def copy_packages(site: Path, packages: list[Path], drop: list[str]) -> None:
    for package in packages:
        dest = site / package.name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(package, dest, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
    for rel in drop:
        shutil.rmtree(site / rel, ignore_errors=True)


# --------------------------------------------------------------------------------- the target interpreter


def _candidates(version: str) -> list[str]:
    home = Path.home()
    found = [os.environ.get("TARGET_PYTHON", ""), shutil.which(f"python{version}") or ""]
    for pattern in (
        f"{home}/.pyenv/versions/{version}.*/bin/python{version}",
        f"{home}/.local/share/uv/python/cpython-{version}.*/bin/python{version}",
        f"/Library/Frameworks/Python.framework/Versions/{version}/bin/python{version}",
        f"/opt/homebrew/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ):
        found.extend(sorted(glob.glob(pattern), reverse=True))
    return [c for c in dict.fromkeys(found) if c]


def _pyconfig_problems(pyconfig: Path) -> list[str]:
    defined: dict[str, str] = {}
    for line in pyconfig.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "#define":
            defined[parts[1]] = parts[2] if len(parts) > 2 else ""
    problems = [
        f"{name} is {defined.get(name)}, not {want}"
        for name, want in ABI_MACROS.items()
        if defined.get(name) != want
    ]
    problems += [f"{name} is defined" for name in ABI_UNDEFINED if name in defined]
    return problems


def usable_headers(include: Path, multiarch: str, staging: Path = TOOLS) -> tuple[Path, Path]:
    """(the folder to compile against, the pyconfig.h it uses). Debian and Ubuntu keep pyconfig.h per machine
    (``/usr/include/<multiarch>/python3.X/pyconfig.h``) behind a ``pyconfig.h`` that includes the one of the
    machine being compiled for, which a cross build does not have; then the folder is a copy of ``include``
    with the host's own pyconfig.h in place of that switch (its ABI is checked to be a 64-bit Linux one)."""
    pyconfig = include / "pyconfig.h"
    real = include.parent / multiarch / include.name / "pyconfig.h"
    if not multiarch or "#define SIZEOF_VOID_P" in pyconfig.read_text(errors="replace") or not real.is_file():
        return include, pyconfig
    staged = staging / f"headers-{multiarch}-{include.name}"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(include, staged)
    shutil.copyfile(real, staged / "pyconfig.h")
    return staged, real


def target_python(target: Target) -> tuple[str, Path] | None:
    """A CPython of the target's version on this host, and the headers to compile against, whose ABI fits
    Lambda's build."""
    probe = (
        "import json, sys, sysconfig; print(json.dumps([sys.implementation.name, '%d.%d' % sys.version_info[:2],"
        " sysconfig.get_paths()['include'], sysconfig.get_config_var('MULTIARCH') or '']))"
    )
    rejected = []
    for exe in _candidates(target.python_version):
        try:
            out = subprocess.run([exe, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
            impl, version, include, multiarch = json.loads(out.stdout)
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
        if impl != "cpython" or version != target.python_version:
            continue
        if not (Path(include) / "Python.h").is_file():
            rejected.append(f"{exe}: no Python.h (install its development headers)")
            continue
        include_dir, pyconfig = usable_headers(Path(include), multiarch)
        problems = _pyconfig_problems(pyconfig)
        if problems:
            rejected.append(f"{exe}: {'; '.join(problems)}")
            continue
        return exe, include_dir
    for reason in rejected:
        say(f"not usable: {reason}")
    return None


# ------------------------------------------------------------------------------------ Zig's C compiler


def zig() -> tuple[list[str], dict[str, str]]:
    """The command that runs Zig, installing the ``ziglang`` wheel for this host on first use."""
    env = dict(os.environ)
    try:
        import ziglang  # noqa: F401
    except ImportError:
        # One folder per kind of host: the wheel holds a native Zig, and a checkout may be shared between hosts.
        where = TOOLS / f"{ZIGLANG.replace('==', '-')}-{sys.platform}-{platform.machine().lower()}"
        if not (where / "ziglang").is_dir():
            say(f"installing {ZIGLANG} (Zig's C compiler) into {where}")
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
                + ["--target", str(where), ZIGLANG],
                check=True,
            )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(where), env.get("PYTHONPATH")]))
    return [sys.executable, "-m", "ziglang"], env


def compile_arguments(target: Target, include: Path, source: Path, out: Path) -> list[str]:
    """``zig cc`` arguments: the target's machine and glibc, its baseline CPU (not this host's: Zig would
    otherwise be free to use instructions of the build machine), symbols stripped at link time."""
    flags = ["-shared", "-fPIC", "-O2", "-DNDEBUG", "-fwrapv", "-fno-strict-aliasing", "-s"]
    # Zig adds its undefined-behaviour sanitizer runtime unless told not to; CPython's own builds don't.
    flags.append("-fno-sanitize=undefined")
    return [
        "cc",
        "-target",
        target.zig_target,
        "-mcpu=baseline",
        *flags,
        f"-I{include}",
        str(source),
        "-o",
        str(out),
    ]


def build_extension(site: Path, module: str, source: Path, include: Path, target: Target) -> Path:
    out = target.extension_path(site, module)
    out.parent.mkdir(parents=True, exist_ok=True)
    command, env = zig()
    subprocess.run([*command, *compile_arguments(target, include, source, out)], check=True, env=env)
    say(f"{module}: built {out.name} for {target.zig_target}")
    return out


# ------------------------------------------------------------------------------------------ bytecode


def compile_bytecode(site: Path, python: str) -> None:
    # -p: tracebacks name the files where Lambda mounts the layer. One process, in compileall's sorted order,
    # with a fixed hash seed: marshal marks objects it has seen by their reference counts, which depend on
    # what the process compiled before, so parallel workers (-j) wrote different bytes from build to build;
    # the seed fixes the order of set constants.
    subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
        + ["-s", str(site), "-p", "/opt/python", str(site)],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the layer's python/ directory (created)")
    parser.add_argument("-r", "--requirements", action="append", default=[], type=Path)
    parser.add_argument("--package", action="append", default=[], type=Path, help="a package to copy")
    parser.add_argument("--drop", action="append", default=[], help="a path inside SITE to leave out")
    parser.add_argument("--extension", action="append", default=[], help="MODULE=SOURCE.c")
    parser.add_argument("--architecture", default=os.environ.get("LAMBDA_ARCHITECTURE") or "x86_64")
    parser.add_argument("--runtime", default=os.environ.get("LAMBDA_RUNTIME") or "python3.12")
    args = parser.parse_args(argv)
    allow_slow = os.environ.get(ALLOW_SLOW) == "1"
    try:
        target = Target.of(args.architecture, args.runtime)
        say(f"target {target}")
        args.site.mkdir(parents=True, exist_ok=True)
        install_wheels(args.site, args.requirements, target)
        copy_packages(args.site, args.package, args.drop)
        found = target_python(target)
        if found is None:
            missing = (
                f"no CPython {target.python_version} with headers on this host: it gives the headers for the C"
                f" fast path and the layer's bytecode. Install one (pyenv install {target.python_version}, uv"
                f" python install {target.python_version}, python.org, your package manager) or name it in"
                f" TARGET_PYTHON"
            )
            if not allow_slow:
                raise BuildError(f"{missing}; or set {ALLOW_SLOW}=1 to build a slower layer without them")
            say(
                f"WARNING {missing}. {ALLOW_SLOW}=1: this layer decodes on the pure-Python path and compiles"
                " its modules at every cold start"
            )
        extensions = [spec.partition("=")[::2] for spec in args.extension] if found else []
        for module, source in extensions:
            build_extension(args.site, module, Path(source), found[1], target)  # type: ignore[index]
        trim_layer.trim(args.site)
        if found:
            compile_bytecode(args.site, found[0])
            say(f"bytecode compiled by {found[0]}")
        failures = check_native.check(
            args.site,
            target,
            extensions=[module for module, _ in extensions],
            bytecode=found is not None,
        )
    except (BuildError, PlatformError, subprocess.CalledProcessError) as exc:
        print(f"build_layer: ERROR {exc}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"build_layer: ERROR {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
