"""``thermocline demo``, ``invoke`` and ``up``: the local stack itself, and the opener the other local
subcommands share (``open_stack``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from thermocline.cli.usage import DEFAULT_STATE, UsageError, load_json, state_dir


def _function(name: str) -> None:
    from thermocline.local.template import default_template, load_template

    template = load_template(default_template())
    functions = sorted(
        logical_id
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
    )
    if name not in functions:
        raise UsageError(f"no function {name!r} in template.yaml (functions: {', '.join(functions)})")


def _waiting(state: Path) -> None:
    print(f"thermocline: {state} is in use by another command; waiting for it to finish", file=sys.stderr)


def open_stack(args: argparse.Namespace, **kwargs: Any) -> Any:
    """The local stack in ``args.state`` (on ``args.endpoint`` when given); a busy state directory waits."""
    from thermocline.local.session import LocalStack

    return LocalStack(Path(args.state), endpoint=getattr(args, "endpoint", None), on_busy=_waiting, **kwargs)


def cmd_demo(args: argparse.Namespace) -> int:
    from thermocline.local.demo import run_demo

    state_dir(args.state)
    if args.orders < 1:
        raise UsageError(f"--orders must be at least 1, got {args.orders}")
    summary = run_demo(args.orders, Path(args.state), Path(args.out), redeliver=args.redeliver)
    return 0 if summary.reconciled else 1


def cmd_invoke(args: argparse.Namespace) -> int:
    event = load_json(Path(args.event))
    if not isinstance(event, dict):
        raise UsageError(f"{args.event}: a Lambda event must be a JSON object")
    state_dir(args.state)
    _function(args.function)
    with open_stack(args, log_level=args.log_level, keep_lake=True) as local:
        response = local.invoke(args.function, event)
    print(json.dumps(response, indent=2, default=str))
    return 0


def write_sam_env_vars(local: Any, path: Path) -> Path:
    """``sam local invoke --env-vars`` file: every function's environment, pointed at the local stack.

    The container reaches moto's server on 127.0.0.1 with ``--docker-network host``.
    """
    env = {logical_id: local.environment_for(logical_id) for logical_id in sorted(local.stack.functions)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
    return path


def cmd_up(args: argparse.Namespace) -> int:
    state_dir(args.state)
    with open_stack(args, log_level=args.log_level, keep_lake=True) as local:
        print(f"moto server: {local.endpoint}")
        env_file = write_sam_env_vars(local, Path(args.state) / "sam-env.json")
        print(
            f"sam local invoke --env-vars {env_file} --docker-network host <Function> -e events/<file>.json"
        )
        print(f"warehouse:   {local.warehouse_url}")
        print(f"redis:       {local.redis_url or local.redis_missing}")
        for logical_id, physical in sorted(local.stack.resources.items()):
            print(f"  {logical_id:<32} {physical}")
        print(
            f"export AWS_ENDPOINT_URL={local.endpoint} AWS_ACCESS_KEY_ID=thermocline-local "
            "AWS_SECRET_ACCESS_KEY=thermocline-local AWS_DEFAULT_REGION=us-east-1"
            + (f" REDIS_URL={local.redis_url}" if local.redis_url else ""),
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run the whole pipeline on the local stack and reconcile it")
    demo.add_argument(
        "--orders", type=int, default=12000, help="orders to generate (default 12000, about two minutes)"
    )
    demo.add_argument("--state", default=str(DEFAULT_STATE / "demo"), help="state directory")
    demo.add_argument("--out", default="out", help="where the summary and report copies go (default out/)")
    demo.add_argument(
        "--redeliver", action="store_true", help="deliver every stream batch twice (at-least-once delivery)"
    )
    demo.set_defaults(func=cmd_demo)

    invoke = sub.add_parser("invoke", help="run one function's handler on the local stack")
    invoke.add_argument("function", help="logical ID in template.yaml, e.g. StreamIngestFunction")
    invoke.add_argument("--event", "-e", required=True, help="event file (the same as sam local invoke -e)")
    invoke.add_argument("--state", default=str(DEFAULT_STATE / "invoke"), help="state directory")
    invoke.add_argument("--endpoint", help="use an already running moto server (see `thermocline up`)")
    invoke.add_argument("--log-level", default="INFO")
    invoke.set_defaults(func=cmd_invoke)

    up = sub.add_parser("up", help="start moto's server with the template deployed and keep it running")
    up.add_argument("--state", default=str(DEFAULT_STATE / "up"), help="state directory")
    up.add_argument("--log-level", default="INFO")
    up.set_defaults(func=cmd_up)
