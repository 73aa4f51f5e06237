"""The project's command line: ``python -m pipelines COMMAND``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run every CPU deployment through the chain, then the report")
    stop = commands.add_parser("stop", help="stop the servers the process runtime left running")
    stop.add_argument("partitions", nargs="*", help="partitions to stop (default: all)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from pipelines.demo import run_demo

        return run_demo()
    if args.command == "stop":
        from resources.eval_home import services_dir
        from resources.process_runtime import stop_service

        partitions = args.partitions or sorted(p.name for p in services_dir().glob("*") if p.is_dir())
        for partition in partitions:
            print(f"{partition}: {'stopped' if stop_service(partition) else 'not running'}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
