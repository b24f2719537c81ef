"""The Lambda platforms a layer can be built for: one table, read by ``build_layer.py`` and ``check_native.py``.

Both Python runtimes run on Amazon Linux 2023, whose glibc is 2.34 ("Lambda runtimes", AWS Lambda Developer
Guide: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html). A native file may need no newer
glibc symbol than that, and must be built for the function's instruction set.
"""

from __future__ import annotations

from dataclasses import dataclass

# template.yaml's Architecture parameter → (ELF e_machine, the machine name in file names and wheel tags).
ARCHITECTURES = {"x86_64": (62, "x86_64"), "arm64": (183, "aarch64")}
# template.yaml's PythonRuntime parameter → glibc of the runtime's operating system.
RUNTIMES = {"python3.12": (2, 34), "python3.13": (2, 34)}


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
    def ext_suffix(self) -> str:  # what importlib looks for on Lambda: ".cpython-312-x86_64-linux-gnu.so"
        return f".{self.cache_tag}-{self.machine}-linux-gnu.so"

    @property
    def zig_target(self) -> str:  # Zig's cross compiler links against exactly this glibc
        major, minor = self.glibc
        return f"{self.machine}-linux-gnu.{major}.{minor}"

    @property
    def wheel_platforms(self) -> list[str]:
        # manylinux2014 is glibc 2.17; 2_28 is what current pyarrow and pydantic-core publish.
        return [f"manylinux2014_{self.machine}", f"manylinux_2_28_{self.machine}"]

    def __str__(self) -> str:
        return f"{self.runtime} on {self.architecture}"
