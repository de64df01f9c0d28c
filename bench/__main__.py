"""`python -m bench [NAME ...]`: run the benchmarks (all by default) and print their ratios."""

from __future__ import annotations

import argparse
import sys

from bench import hooks_overhead, link_placeholders, placeholder_render, proxy_render
from bench import queue as queue_bench

BENCHES = {"link": link_placeholders.main, "proxy": proxy_render.main,
           "placeholder": placeholder_render.main, "hooks": hooks_overhead.main,
           "queue": queue_bench.main}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in order."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHES, []], default=[],
                        help=f"benchmarks to run (default: all of {', '.join(BENCHES)})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = parser.parse_args(argv)
    for name in args.names or BENCHES:
        BENCHES[name](quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
