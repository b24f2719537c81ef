"""The Lambda platforms a layer can be built for: one table, read by ``build_layer.py`` and ``check_native.py``.

Both Python runtimes run on Amazon Linux 2023, whose glibc is 2.34 ("Lambda runtimes", AWS Lambda Developer
Guide: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html). A native file may need no newer
glibc symbol than that, and must be built for the function's instruction set.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# template.yaml's Architecture parameter → (ELF e_machine, the machine name in file names and wheel tags).
ARCHITECTURES = {"x86_64": (62, "x86_64"), "arm64": (183, "aarch64")}
# template.yaml's PythonRuntime parameter → glibc of the runtime's operating system.
RUNTIMES = {"python3.12": (2, 34), "python3.13": (2, 34)}
# What ``platform.machine()`` (``uname -m``) says on a build host → the machine name Linux and wheels use:
# macOS on Apple silicon says arm64 where Linux says aarch64; Windows says AMD64 or ARM64.
HOST_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class PlatformError(ValueError):
    """An architecture or runtime that Lambda does not offer (or this project does not build for)."""


@dataclass(frozen=True)
class Target:
    architecture: str  # as Lambda names it: x86_64 | arm64
    runtime: str  # python3.12 | python3.13

    @classmethod
    def of(cls, architecture: str, runtime: str) -> Target:
        if architecture not in ARCHITECTURES:
            raise PlatformError(f"architecture {architecture!r}: choose one of {', '.join(ARCHITECTURES)}")
        if runtime not in RUNTIMES:
            raise PlatformError(f"runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        return cls(architecture, runtime)

    @property
    def python_version(self) -> str:  # "3.12"
        return self.runtime.removeprefix("python")

    @property
    def machine(self) -> str:  # "aarch64"
        return ARCHITECTURES[self.architecture][1]

    @property
    def elf_machine(self) -> int:
        return ARCHITECTURES[self.architecture][0]

    @property
    def glibc(self) -> tuple[int, int]:
        return RUNTIMES[self.runtime]

    @property
    def cache_tag(self) -> str:  # "cpython-312", as in __pycache__/x.cpython-312.pyc
        return "cpython-" + self.python_version.replace(".", "")

    @property
    def abi(self) -> str:  # "cp312": the wheel ABI tag of Lambda's CPython (a release build with the GIL)
        return "cp" + self.python_version.replace(".", "")

    @property
    def ext_suffix(self) -> str:  # what importlib looks for on Lambda: ".cpython-312-x86_64-linux-gnu.so"
        return f".{self.cache_tag}-{self.machine}-linux-gnu.so"

    def extension_path(self, site: Path, module: str) -> Path:
        """Where extension ``module`` goes under ``site``, named as the target's CPython imports it: from the
        target, never from the build host's ``sysconfig`` (a macOS host's EXT_SUFFIX is ``-darwin.so``)."""
        return site.joinpath(*module.split(".")).with_name(module.rsplit(".", 1)[-1] + self.ext_suffix)

    @property
    def zig_target(self) -> str:  # Zig's cross compiler links against exactly this glibc
        major, minor = self.glibc
        return f"{self.machine}-linux-gnu.{major}.{minor}"

    @property
    def wheel_platforms(self) -> list[str]:
        """Every manylinux tag the runtime's glibc accepts, newest first. pip widens only the legacy names
        (manylinux2014 to 2010 and 1), never ``manylinux_2_28`` to the versions below it, so each is named:
        a wheel tagged manylinux_2_31 is as good on Lambda as one tagged manylinux_2_28."""
        major, newest = self.glibc
        return [f"manylinux_{major}_{minor}_{self.machine}" for minor in range(newest, 16, -1)] + [
            f"manylinux2014_{self.machine}"
        ]

    def __str__(self) -> str:
        return f"{self.runtime} on {self.architecture}"


@dataclass(frozen=True)
class Host:
    """The machine running the build. Nothing the build produces depends on it: it decides only whether the
    built layer can also be imported here (the smoke test), which needs Linux with glibc on the target's
    machine, and a glibc at least as new as the runtime's (the layer's wheels may need up to that)."""

    system: str  # platform.system(): Linux, Darwin, Windows
    machine: str  # normalised: x86_64 | aarch64 (or what the host said, lower-cased, when unknown)
    glibc: tuple[int, int] | None  # None: not glibc (macOS, musl, Windows)

    @classmethod
    def current(cls) -> Host:
        raw = platform.machine().lower()
        libc, version = platform.libc_ver()
        glibc = None
        if libc == "glibc" and version:
            major, minor = version.split(".")[:2]
            glibc = (int(major), int(minor))
        return cls(platform.system(), HOST_MACHINES.get(raw, raw), glibc)

    def why_not_run(self, target: Target) -> str | None:
        """None when a CPython of this host can import a layer built for ``target``; else the reason."""
        if self.system != "Linux":
            return f"{self.system} cannot load Linux ELF files"
        if self.machine != target.machine:
            return f"this host is {self.machine}, the layer is for {target.machine}"
        if self.glibc is None:
            return "this Linux has no glibc (the layer's files link against glibc)"
        if self.glibc < target.glibc:
            have, need = ".".join(map(str, self.glibc)), ".".join(map(str, target.glibc))
            return f"this host's glibc {have} is older than {target.runtime}'s {need}"
        return None

    def __str__(self) -> str:
        libc = f"glibc {'.'.join(map(str, self.glibc))}" if self.glibc else "no glibc"
        return f"{self.system} {self.machine}, {libc}"


# template.yaml's parameters that choose the platform, and the make variable that builds for each.
TEMPLATE_PARAMETERS = {"Architecture": "ARCH", "PythonRuntime": "RUNTIME"}


def pin_template(template: dict[str, Any], target: Target) -> dict[str, Any]:
    """The built template, allowing only the platform it was built for. ``sam deploy`` keeps an existing
    stack's previous value of a parameter it is not given (UsePreviousValue), so a stack deployed for x86_64
    and a layer rebuilt for arm64 would otherwise be deployed together, and no function could import its
    native code; CloudFormation refuses the mismatch instead, with the way out in the message."""
    chosen = {"Architecture": target.architecture, "PythonRuntime": target.runtime}
    for name, variable in TEMPLATE_PARAMETERS.items():
        parameter = template["Parameters"][name]
        parameter["Default"] = chosen[name]
        parameter["AllowedValues"] = [chosen[name]]
        parameter["ConstraintDescription"] = (
            f"this build is for {name}={chosen[name]}: deploy with --parameter-overrides {name}={chosen[name]},"
            f" or build for the other one first (make build {variable}=...)"
        )
    return template


def main(argv: list[str] | None = None) -> int:
    """``python scripts/lambda_platform.py runs-here``: exit 0 when this host can import the layer built for
    ``$LAMBDA_ARCHITECTURE``/``$LAMBDA_RUNTIME`` (the Makefile's smoke test), else print why and exit 1.
    ``python scripts/lambda_platform.py pin .aws-sam/build/template.yaml``: ``pin_template`` on the built
    template (``make build`` runs it after ``sam build``)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["runs-here"] and not (len(args) == 2 and args[0] == "pin"):
        print("usage: lambda_platform.py runs-here | pin TEMPLATE", file=sys.stderr)
        return 2
    try:
        target = Target.of(
            os.environ.get("LAMBDA_ARCHITECTURE") or "x86_64",
            os.environ.get("LAMBDA_RUNTIME") or "python3.12",
        )
    except PlatformError as exc:
        print(f"lambda_platform: {exc}", file=sys.stderr)
        return 2
    if args[0] == "pin":
        import yaml  # only here: the build scripts run on any python3 without it

        built = Path(args[1])
        # sam build writes the built template in plain YAML (intrinsics in their long form).
        template = pin_template(yaml.safe_load(built.read_text()), target)
        built.write_text(yaml.safe_dump(template, sort_keys=False, width=120))
        print(f"lambda_platform: {built} deploys {target} only")
        return 0
    host = Host.current()
    reason = host.why_not_run(target)
    if reason:
        print(f"lambda_platform: {host} cannot run {target}: {reason}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
