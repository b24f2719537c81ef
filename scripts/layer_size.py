"""Print the unzipped size of the built layer and functions: ``python scripts/layer_size.py [.aws-sam/build]``.

Lambda limits a function plus its layers to 250 MB unzipped; this fails (exit 1) above ``--limit`` MB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LAMBDA_LIMIT_MB = 250


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", nargs="?", default=".aws-sam/build", type=Path)
    parser.add_argument("--layer", default="ThermoclineLayer")
    parser.add_argument("--limit", type=float, default=LAMBDA_LIMIT_MB, help="MB for function + layer")
    args = parser.parse_args()
    layer_dir = args.build_dir / args.layer
    if not layer_dir.is_dir():
        print(f"layer_size: {layer_dir} not found; run `make build` first", file=sys.stderr)
        return 2
    mb = 2**20
    layer = size(layer_dir)
    print(f"{args.layer:<28} {layer / mb:8.1f} MB")
    packages = {p.name: size(p) for p in (layer_dir / "python").iterdir() if p.is_dir()}
    for name, bytes_ in sorted(packages.items(), key=lambda item: -item[1])[:6]:
        print(f"  {name:<26} {bytes_ / mb:8.1f} MB")
    worst = 0
    for function in sorted(p for p in args.build_dir.iterdir() if p.is_dir() and p.name != args.layer):
        total = size(function) + layer
        worst = max(worst, total)
        print(f"{function.name:<28} {size(function) / 1024:8.1f} KB   with the layer {total / mb:6.1f} MB")
    print(f"largest function + layer: {worst / mb:.1f} MB of Lambda's {args.limit:.0f} MB")
    return 1 if worst > args.limit * mb else 0


if __name__ == "__main__":
    sys.exit(main())
