"""Cold start: each handler's import and initialisation, in fresh CPython 3.12 processes, as Lambda runs it.

    baseline:  import boto3; boto3.client("s3")          (what any Python function pays)
    <handler>: import functions/<name>/app.py             (module code: settings, clients, Powertools)

Each process gets the built layer (``.aws-sam/build/ThermoclineLayer/python``, from ``make build``) on
``sys.path`` as ``/opt/python`` is in Lambda, after the function's directory and before a stand-in for the
runtime's own packages (boto3 with its bytecode, as the Lambda image ships it). No bytecode is written
(``-B``: Lambda's file system is read-only), so a module without shipped bytecode is compiled on every cold
start, as in Lambda. The environment is the function's: ``AWS_LAMBDA_FUNCTION_NAME`` makes Powertools' Tracer
load the X-Ray SDK, as tracing is Active in the template.

Figures are CPU seconds (user + system) of the whole process, the median of ``--repeat`` runs, and the
same for the baseline in the same run. Run: ``make bench`` or ``python benchmarks/bench_coldstart.py
[--repeat 7] [--strict]`` (``--strict`` exits 1 when a handler is more than 300 ms above the baseline).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from build_layer import target_python  # noqa: E402
from lambda_platform import Target  # noqa: E402

TARGET_MS = 300
LAYER = ROOT / ".aws-sam" / "build" / "ThermoclineLayer" / "python"
RUNTIME = ROOT / ".aws-sam" / "bench" / "runtime-python3.12"
# Every handler: functions/stream_ingest/app.py is StreamIngestFunction's.
HANDLERS = {
    "".join(part.title() for part in app.parent.name.split("_")) + "Function": app.parent
    for app in sorted((ROOT / "functions").glob("*/app.py"))
}
# What Lambda gives every function; the settings each handler reads come from _settings_env().
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench-coldstart",
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Thermocline",
    "THERMOCLINE_XRAY_SDK": "false",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# Well-formed values for required settings, by the end of their name; clients connect lazily.
SAMPLE_VALUES = {
    "warehouse_url": "redshift-data://workgroup/database",
    "redis_url": "redis://127.0.0.1:6379/0",
    "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/queue",
    "_arn": "arn:aws:iam::123456789012:role/bench",
}


def _settings_env() -> dict[str, str]:
    """A value for every required variable of every function's settings model."""
    import dataclasses

    from thermocline import settings

    env = {}
    for model in settings._EnvSettings.__subclasses__() + [
        sub for base in settings._EnvSettings.__subclasses__() for sub in base.__subclasses__()
    ]:
        for f in dataclasses.fields(model):
            if f.default is dataclasses.MISSING:
                value = next((v for end, v in SAMPLE_VALUES.items() if f.name.endswith(end)), "bench")
                env[f.name.upper()] = value
    return env


BASELINE = "import boto3; boto3.client('s3')"


def runtime_standin(python: str) -> Path:
    """boto3 and its dependencies for CPython 3.12 with their bytecode: what Lambda's runtime provides."""
    if not (RUNTIME / "boto3").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]
            + [str(RUNTIME), "--python-version", "3.12", "--only-binary=:all:", "boto3"],
            check=True,
        )
        subprocess.run([python, "-m", "compileall", "-q", "-j", "0", str(RUNTIME)], check=True)
    return RUNTIME


def cpu_of(python: str, code: str, path: list[Path]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh interpreter running ``code`` with ``path`` first on sys.path."""
    setup = "import sys; sys.path[0:0] = " + repr([str(p) for p in path]) + "\n"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **_settings_env(), **ENV}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([python, "-B", "-I", "-c", setup + code], env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def measure(python: str, code: str, path: list[Path], repeat: int) -> tuple[float, float]:
    cpu_of(python, code, path)  # warm the page cache: every run then reads the same files from memory
    runs = [cpu_of(python, code, path) for _ in range(repeat)]
    return statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    found = target_python(Target.of("x86_64", "python3.12"))
    if found is None:
        print("cold start: no CPython 3.12 on this host (pyenv install 3.12, or TARGET_PYTHON=path)")
        return 1 if args.strict else 0
    python = found[0]
    if not (LAYER / "thermocline").is_dir():
        print(f"cold start: no built layer at {LAYER.relative_to(ROOT)}; run `make build` first")
        return 1
    runtime = runtime_standin(python)
    base_cpu, base_wall = measure(python, BASELINE, [runtime], args.repeat)
    print(f"cold start, CPython 3.12, median of {args.repeat} fresh processes (CPU = user + system):")
    print(
        f"  {'baseline: boto3 + S3 client':<34} {base_cpu * 1000:6.0f} ms CPU  {base_wall * 1000:6.0f} ms wall"
    )
    missed = []
    for name, directory in HANDLERS.items():
        code = "import importlib; importlib.import_module('app')"
        cpu, wall = measure(python, code, [directory, LAYER, runtime], args.repeat)
        above = (cpu - base_cpu) * 1000
        verdict = "ok" if above <= TARGET_MS else f"MISSED (target <= {TARGET_MS} ms above baseline)"
        if above > TARGET_MS:
            missed.append(name)
        print(
            f"  {name:<34} {cpu * 1000:6.0f} ms CPU  {wall * 1000:6.0f} ms wall  +{above:4.0f} ms  {verdict}"
        )
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
