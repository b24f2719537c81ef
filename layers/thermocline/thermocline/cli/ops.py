"""``thermocline status``, ``cost``, ``bootstrap-sql`` and ``smoke``: operating a deployment (logic in
``ops/`` and ``bootstrap/``).

thermocline status [--stack NAME] [--endpoint URL] [--warehouse URL]
                                                one screen of pipeline health (exit 1 when it needs attention)
thermocline cost --writes-per-second N [...]    monthly cost, against Firehose and zero-ETL, with the prices
thermocline bootstrap-sql --loader-role R --reader-role R [--database D]
                                                the warehouse bootstrap to run yourself (bring your own warehouse)
thermocline smoke --workgroup NAME [--bucket B --iam-role ARN]
                                                ask a real Redshift what its documents leave open (JSON answers)
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any


def cmd_status(args: argparse.Namespace) -> int:
    from thermocline import aws, warehouse
    from thermocline.ops.status import collect_status

    def client(name: str) -> Any:
        return aws.client(name, endpoint_url=args.endpoint, region_name=args.region)

    cfn = client("cloudformation")
    url = args.warehouse
    if url is None and args.endpoint is None:
        outputs = cfn.describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
        url = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "WarehouseUrl"), None)
    s3 = client("s3")
    with contextlib.ExitStack() as stack:
        wh = stack.enter_context(warehouse.connect(url, s3_client=s3)) if url else None
        status = collect_status(
            args.stack, cfn=cfn, sqs=client("sqs"), s3=s3, cloudwatch=client("cloudwatch"), warehouse=wh
        )
    print("\n".join(status.lines()))
    return 0 if status.healthy else 1


def cmd_cost(args: argparse.Namespace) -> int:
    from thermocline.ops.cost import Volumes, render

    volumes = Volumes(
        writes_per_second=args.writes_per_second,
        item_kb=args.item_kb,
        tables=args.tables,
        reports_per_day=args.reports_per_day,
        retention_days=args.retention_days,
        load_interval_seconds=args.load_interval,
        base_rpu=args.base_rpu,
    )
    print("\n".join(render(volumes)))
    return 0


def cmd_bootstrap_sql(args: argparse.Namespace) -> int:
    from thermocline.bootstrap.sql import Identities, bootstrap_sql, iam_role_user

    identities = Identities(
        database=args.database,
        loader_users=tuple(iam_role_user(r) for r in args.loader_role),
        reader_users=tuple(iam_role_user(r) for r in args.reader_role),
        copy_role_arn=args.copy_role_arn,
    )
    # Run as a superuser; statements for roles and users that exist already fail harmlessly.
    print(";\n".join(bootstrap_sql(identities)) + ";")
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    import json
    import sys

    from thermocline import aws
    from thermocline.ops.smoke import DataApi, not_asked, run_smoke
    from thermocline.runtime import Runtime

    target = {"WorkgroupName": args.workgroup, "Database": args.database}
    if args.secret_arn:
        target["SecretArn"] = args.secret_arn
    api = DataApi(aws.client("redshift-data", region_name=args.region), target, Runtime())
    s3 = aws.client("s3", region_name=args.region) if args.bucket else None
    answers = run_smoke(api, s3=s3, bucket=args.bucket, iam_role=args.iam_role, settle_seconds=args.settle)
    json.dump(answers, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 1 if not_asked(answers) else 0


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="pipeline health of a deployed stack or the local stack")
    status.add_argument("--stack", default="thermocline", help="stack name (default: the local stack's)")
    status.add_argument("--endpoint", help="moto's server of `thermocline up` (default: AWS)")
    status.add_argument("--region", help="AWS Region (default: the AWS configuration's)")
    status.add_argument(
        "--warehouse", help="warehouse URL for the ledger (default: the stack's WarehouseUrl)"
    )
    status.set_defaults(func=cmd_status)

    cost = sub.add_parser("cost", help="monthly cost from volumes, against Firehose and zero-ETL")
    cost.add_argument("--writes-per-second", type=float, required=True)
    cost.add_argument("--item-kb", type=float, default=1.0)
    cost.add_argument("--tables", type=int, default=4)
    cost.add_argument("--reports-per-day", type=int, default=4)
    cost.add_argument("--retention-days", type=int, default=365, help="days lake files are kept")
    cost.add_argument(
        "--load-interval", type=int, default=60, help="seconds between loads (LoadBatchingWindowSeconds)"
    )
    cost.add_argument("--base-rpu", type=int, default=8, help="the workgroup's BaseCapacity")
    cost.set_defaults(func=cmd_cost)

    sql = sub.add_parser("bootstrap-sql", help="the warehouse bootstrap SQL, to run yourself as a superuser")
    sql.add_argument("--database", default="thermocline")
    sql.add_argument(
        "--loader-role", action="append", required=True, help="IAM role name of a loader function"
    )
    sql.add_argument("--reader-role", action="append", default=[], help="IAM role name of a reading function")
    sql.add_argument("--copy-role-arn", help="the IAM role COPY uses (attached to the warehouse)")
    sql.set_defaults(func=cmd_bootstrap_sql)

    smoke = sub.add_parser(
        "smoke",
        help="ask a real Redshift workgroup what its documents leave open; print the answers as JSON",
        description="Ask a real Redshift Serverless workgroup, through the Data API, the questions the "
        "documents leave open: how JSON_PARSE keeps a 38-digit number and 1E+125, what a bad Parquet "
        "file's COPY error looks like and whether sys_load_error_detail logs it, whether the Data API's "
        "query id matches sys_query_history, and the error texts the loader classifies. Run it once on a "
        "new deployment. Creates only temporary tables and, with --bucket, two objects under "
        "_conformed/_smoke/ and _manifests/_smoke/, which the stack's COPY role reads (deleted again).",
        epilog="exit status: 0 every question was asked (its answer may be an error: that is the "
        "answer); 1 the Data API or S3 refused a call (the question says why).",
    )
    smoke.add_argument("--workgroup", required=True, help="Redshift Serverless workgroup name")
    smoke.add_argument("--database", default="dev")
    smoke.add_argument("--secret-arn", help="Secrets Manager secret of a database user (default: IAM)")
    smoke.add_argument("--region", help="AWS Region (default: the AWS configuration's)")
    smoke.add_argument("--bucket", help="a bucket the COPY role can read, for the bad Parquet question")
    smoke.add_argument("--iam-role", help="the role COPY uses (the stack's copy role)")
    smoke.add_argument(
        "--settle",
        type=float,
        default=5,
        metavar="SECONDS",
        help="how long to wait for sys_query_history to show a statement (default 5)",
    )
    smoke.set_defaults(func=cmd_smoke)
