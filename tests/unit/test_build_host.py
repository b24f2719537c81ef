"""The layer build gives the same plan on every build host: what it fetches, compiles and names depends on the
Lambda target alone, and the only host-dependent decision (may this host import the built layer?) is right.

Other build hosts are simulated by replacing what Python reports about the host (``platform``, ``sysconfig``);
the build's own code runs unchanged. The real cross builds are in tests/integration/test_cross_build.py.
"""

from __future__ import annotations

import platform
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pip._internal.utils.compatibility_tags import get_supported

from thermocline.local.template import repo_root

SCRIPTS = repo_root() / "scripts"

# What each build host's Python says about itself (CPython 3.11 running the build, as `make build` does with
# the sam venv's interpreter). EXT_SUFFIX is what a naive build would name the extension after.
HOSTS: dict[str, dict[str, Any]] = {
    "macOS arm64": {
        "system": "Darwin",
        "machine": "arm64",
        "libc": ("", ""),
        "vars": {
            "EXT_SUFFIX": ".cpython-311-darwin.so",
            "SOABI": "cpython-311-darwin",
            "MULTIARCH": "darwin",
        },
    },
    "macOS x86_64": {
        "system": "Darwin",
        "machine": "x86_64",
        "libc": ("", ""),
        "vars": {
            "EXT_SUFFIX": ".cpython-311-darwin.so",
            "SOABI": "cpython-311-darwin",
            "MULTIARCH": "darwin",
        },
    },
    "Linux aarch64": {
        "system": "Linux",
        "machine": "aarch64",
        "libc": ("glibc", "2.36"),
        "vars": {
            "EXT_SUFFIX": ".cpython-311-aarch64-linux-gnu.so",
            "SOABI": "cpython-311-aarch64-linux-gnu",
            "MULTIARCH": "aarch64-linux-gnu",
        },
    },
    "Linux x86_64": {
        "system": "Linux",
        "machine": "x86_64",
        "libc": ("glibc", "2.36"),
        "vars": {
            "EXT_SUFFIX": ".cpython-311-x86_64-linux-gnu.so",
            "SOABI": "cpython-311-x86_64-linux-gnu",
            "MULTIARCH": "x86_64-linux-gnu",
        },
    },
    # Ubuntu 20.04: too old a glibc to import wheels that need up to Lambda's 2.34.
    "Linux x86_64, glibc 2.31": {
        "system": "Linux",
        "machine": "x86_64",
        "libc": ("glibc", "2.31"),
        "vars": {"EXT_SUFFIX": ".cpython-311-x86_64-linux-gnu.so"},
    },
    # Alpine: platform.libc_ver() finds no glibc.
    "Linux x86_64, musl": {
        "system": "Linux",
        "machine": "x86_64",
        "libc": ("", ""),
        "vars": {"EXT_SUFFIX": ".cpython-311-x86_64-linux-musl.so"},
    },
    # A free-threaded debug interpreter running the build: its ABI flags must not reach pip.
    "Linux x86_64, python3.13td": {
        "system": "Linux",
        "machine": "x86_64",
        "libc": ("glibc", "2.36"),
        "vars": {"EXT_SUFFIX": ".cpython-313td-x86_64-linux-gnu.so", "Py_GIL_DISABLED": 1, "Py_DEBUG": 1},
    },
}
TARGETS = [
    ("x86_64", "python3.12"),
    ("x86_64", "python3.13"),
    ("arm64", "python3.12"),
    ("arm64", "python3.13"),
]


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import build_layer
    import lambda_platform

    return {"build_layer": build_layer, "lambda_platform": lambda_platform}


def simulate(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    facts = HOSTS[host]
    real = sysconfig.get_config_var
    monkeypatch.setattr(platform, "system", lambda: facts["system"])
    monkeypatch.setattr(platform, "machine", lambda: facts["machine"])
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: facts["libc"])
    monkeypatch.setattr(
        sysconfig,
        "get_config_var",
        lambda name: facts["vars"].get(name) if name in facts["vars"] else real(name),
    )


def plan(scripts: dict[str, ModuleType], architecture: str, runtime: str) -> dict[str, Any]:
    """Everything the build derives from its target: wheels asked of pip, the compiler's command, file names."""
    target = scripts["lambda_platform"].Target.of(architecture, runtime)
    build = scripts["build_layer"]
    site = Path("/build/python")
    return {
        "pip": build.pip_arguments(site, Path("/src/requirements.txt"), target),
        "cc": build.compile_arguments(target, Path("/py/include"), Path("/src/_speedups.c"), Path("/out.so")),
        "extension": target.extension_path(site, "thermocline.sources.dynamodb_streams._speedups"),
        "bytecode": target.cache_tag,
    }


@pytest.mark.parametrize(("architecture", "runtime"), TARGETS)
def test_every_build_host_makes_the_same_plan_for_a_target(
    scripts: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch, architecture: str, runtime: str
) -> None:
    plans = {}
    for host in HOSTS:
        simulate(monkeypatch, host)
        plans[host] = plan(scripts, architecture, runtime)
        monkeypatch.undo()
        monkeypatch.syspath_prepend(str(SCRIPTS))
    first = plans["Linux x86_64"]
    assert all(p == first for p in plans.values()), plans

    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[architecture]
    version = runtime.removeprefix("python")
    tag = version.replace(".", "")
    pip = " ".join(first["pip"])
    assert f"--platform manylinux_2_28_{machine}" in pip
    assert f"--python-version {version}" in pip
    assert f"--abi cp{tag}" in pip
    assert "--only-binary=:all:" in pip
    cc = " ".join(first["cc"])
    assert f"-target {machine}-linux-gnu.2.34" in cc
    assert "-mcpu=baseline" in cc
    assert first["extension"].name == f"_speedups.cpython-{tag}-{machine}-linux-gnu.so"
    assert first["bytecode"] == f"cpython-{tag}"


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_extension_is_named_for_the_target_not_the_host(
    scripts: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    simulate(monkeypatch, host)
    target = scripts["lambda_platform"].Target.of("arm64", "python3.13")
    path = target.extension_path(Path("site"), "thermocline.sources.dynamodb_streams._speedups")
    assert path == Path(
        "site/thermocline/sources/dynamodb_streams/_speedups.cpython-313-aarch64-linux-gnu.so"
    )
    assert not path.name.endswith(sysconfig.get_config_var("EXT_SUFFIX"))


@pytest.mark.parametrize("host", ["Linux x86_64, python3.13td"])
def test_pip_would_take_the_hosts_abi_flags_without_the_abi_argument(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """pip's own tag computation, on a free-threaded debug host: without --abi it asks for cp313td wheels and
    would not take the cp313 wheels Lambda's CPython imports; with --abi cp313 (what the build passes) it does."""
    simulate(monkeypatch, host)
    platforms = ["manylinux_2_28_aarch64"]
    implicit = {str(t) for t in get_supported(version="313", platforms=platforms, impl="cp", abis=None)}
    explicit = {str(t) for t in get_supported(version="313", platforms=platforms, impl="cp", abis=["cp313"])}
    assert "cp313-cp313-manylinux_2_28_aarch64" not in implicit
    assert "cp313-cp313td-manylinux_2_28_aarch64" in implicit
    assert "cp313-cp313-manylinux_2_28_aarch64" in explicit
    assert not any("cp313t" in tag for tag in explicit)


# host → the targets whose built layer that host can import for the smoke test, and why it cannot import
# the others of its own machine (another machine's layer: "the layer is for aarch64").
RUNS = {
    "macOS arm64": (set(), "Darwin cannot load Linux ELF files"),
    # The bug this guards against: uname -m says x86_64 here too, but macOS cannot load a Linux .so.
    "macOS x86_64": (set(), "Darwin cannot load Linux ELF files"),
    "Linux aarch64": ({("arm64", "python3.12"), ("arm64", "python3.13")}, None),
    "Linux x86_64": ({("x86_64", "python3.12"), ("x86_64", "python3.13")}, None),
    "Linux x86_64, glibc 2.31": (set(), "this host's glibc 2.31 is older than"),
    "Linux x86_64, musl": (set(), "this Linux has no glibc"),
    "Linux x86_64, python3.13td": ({("x86_64", "python3.12"), ("x86_64", "python3.13")}, None),
}


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_smoke_test_runs_only_where_the_built_layer_can_load(
    scripts: dict[str, ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
) -> None:
    simulate(monkeypatch, host)
    runnable, reason = RUNS[host]
    for architecture, runtime in TARGETS:
        monkeypatch.setenv("LAMBDA_ARCHITECTURE", architecture)
        monkeypatch.setenv("LAMBDA_RUNTIME", runtime)
        code = scripts["lambda_platform"].main(["runs-here"])
        said = capsys.readouterr().out
        if (architecture, runtime) in runnable:
            assert code == 0 and said == "", (architecture, runtime)
        else:
            machine = {"x86_64": "x86_64", "arm64": "aarch64"}[architecture]
            other = HOSTS[host]["system"] == "Linux" and machine != HOSTS[host]["machine"]
            expected = f"the layer is for {machine}" if other else reason
            assert code == 1 and expected and expected in said, (architecture, runtime, said)


def test_the_host_is_described_in_lambdas_terms(
    scripts: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    Host = scripts["lambda_platform"].Host
    seen = {}
    for host in ("macOS arm64", "Linux aarch64", "Linux x86_64, musl"):
        simulate(monkeypatch, host)
        seen[host] = Host.current()
    assert seen["macOS arm64"] == Host("Darwin", "aarch64", None)
    assert seen["Linux aarch64"] == Host("Linux", "aarch64", (2, 36))
    assert seen["Linux x86_64, musl"] == Host("Linux", "x86_64", None)


@pytest.mark.parametrize(("architecture", "runtime"), TARGETS)
def test_pip_takes_every_wheel_the_runtimes_glibc_can_load_and_none_newer(
    scripts: dict[str, ModuleType], architecture: str, runtime: str
) -> None:
    """pip's own tag computation over the platforms the build names: a wheel for glibc 2.17 to 2.34 fits
    (pip widens only manylinux2014 by itself), one for 2.35 does not."""
    target = scripts["lambda_platform"].Target.of(architecture, runtime)
    abi = target.abi
    tags = {
        str(t)
        for t in get_supported(
            version=abi.removeprefix("cp"), platforms=target.wheel_platforms, impl="cp", abis=[abi]
        )
    }
    for glibc in (17, 24, 28, 31, 34):
        assert f"{abi}-{abi}-manylinux_2_{glibc}_{target.machine}" in tags
    assert f"{abi}-{abi}-manylinux2014_{target.machine}" in tags
    assert f"{abi}-{abi}-manylinux_2_35_{target.machine}" not in tags
    assert not any(t.endswith(("x86_64", "aarch64")) and target.machine not in t for t in tags)


def test_the_built_template_deploys_only_the_platform_it_was_built_for(
    scripts: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sam deploy keeps an existing stack's previous Architecture unless told otherwise; the built template
    allows only what was built, so CloudFormation refuses an x86_64 stack with an arm64 layer."""
    import yaml

    from thermocline.local.template import default_template, load_template

    source = load_template(default_template())
    built = tmp_path / "template.yaml"  # sam build writes plain YAML, intrinsics in their long form
    built.write_text(yaml.safe_dump(source, sort_keys=False))
    monkeypatch.setenv("LAMBDA_ARCHITECTURE", "arm64")
    monkeypatch.setenv("LAMBDA_RUNTIME", "python3.13")

    assert scripts["lambda_platform"].main(["pin", str(built)]) == 0
    pinned = yaml.safe_load(built.read_text())

    architecture, runtime = pinned["Parameters"]["Architecture"], pinned["Parameters"]["PythonRuntime"]
    assert (architecture["Default"], architecture["AllowedValues"]) == ("arm64", ["arm64"])
    assert (runtime["Default"], runtime["AllowedValues"]) == ("python3.13", ["python3.13"])
    assert "--parameter-overrides Architecture=arm64" in architecture["ConstraintDescription"]
    for name in ("Architecture", "PythonRuntime"):
        del pinned["Parameters"][name], source["Parameters"][name]
    assert pinned == source
