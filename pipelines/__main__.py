"""The project's command line: ``python -m pipelines COMMAND``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SYSTEM_PROMPT = (
    "You are a friendly assistant for a science museum. Answer visitors' questions about nature and "
    "everyday things in plain words, in two or three short sentences, without lists or headings. If a "
    "question is unclear, say what you understood and answer that. Stay on the topic the visitor chose."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run the embedded default (every CPU deployment of a trained model) through the chain, then the report",
    )
    demo.add_argument("partitions", nargs="*", help="deployments to run instead")
    stop = commands.add_parser("stop", help="stop the servers the process runtime left running")
    stop.add_argument("partitions", nargs="*", help="partitions to stop (default: all)")
    importer = commands.add_parser("import-bench", help="import results saved by vllm bench serve --save-result")
    importer.add_argument("files", nargs="+", type=Path, help="JSON files written by --save-result")
    importer.add_argument("--partition", required=True, help="the deployment the results belong to")
    importer.add_argument("--scenario", help="scenario name (default: the file's label, else its name)")
    plan = commands.add_parser("plan", help="print the docker commands a deployment will run, running nothing")
    plan.add_argument("partition", help="a deployment file's name under configs/deployments/")
    diagnose = commands.add_parser("diagnose", help="read a vLLM start-up log: phases with durations, cause, fix")
    diagnose.add_argument("logfile", type=Path, help="a `vllm serve` or `docker logs` output")
    restore = commands.add_parser(
        "restore",
        help="rebuild the results database from its newest (or a named) snapshot, keeping the current file aside",
    )
    restore.add_argument("snapshot", nargs="?", help="a snapshot's folder name or path (default: the newest)")
    restore.add_argument("--db", type=Path, help="the results file (default: EVAL_HOME/results.duckdb)")
    restore.add_argument("--list", action="store_true", help="list the snapshots, newest first, and restore nothing")
    sweep = commands.add_parser(
        "sweep", help="a sweep (configs/sweeps/NAME.yaml): plan its points, run them all, or show the winner"
    )
    sweep.add_argument("action", choices=["plan", "run", "show"], help="plan: spend nothing; run: every point; show")
    sweep.add_argument("name", help="a sweep file's name under configs/sweeps/ (without .yaml)")
    sweep.add_argument("--point", action="append", dest="points", help="run only this point (repeatable)")
    trace = commands.add_parser(
        "make-trace", help="write a synthetic bursty trace to configs/traces/NAME.jsonl (vLLM's timed_trace form)"
    )
    trace.add_argument("name", help="the trace's name (a scenario's workload: {kind: trace, file: NAME})")
    trace.add_argument("--requests", type=_at_least_one, default=64, help="how many requests (default 64)")
    trace.add_argument("--rate", type=float, default=2.0, help="mean requests per second (default 2)")
    trace.add_argument("--burstiness", type=float, default=0.5, help="gamma shape of the gaps: <1 bursty, 1 Poisson")
    trace.add_argument("--input-len", type=_at_least_one, default=256, help="mean prompt tokens (default 256)")
    trace.add_argument("--output-len", type=_at_least_one, default=32, help="mean output tokens (default 32)")
    trace.add_argument("--shared-prefix", type=int, default=128, help="prompt tokens every request shares")
    trace.add_argument("--seed", type=int, default=0)
    chats = commands.add_parser(
        "make-conversations",
        help="write synthetic multi-turn conversations to configs/conversations/NAME.jsonl (ShareGPT form)",
    )
    chats.add_argument("name", help="the file's name (a scenario's workload: {kind: multi_turn, file: NAME})")
    chats.add_argument("--count", type=_at_least_one, default=16, help="conversations (default 16)")
    chats.add_argument("--turns", type=_at_least_one, default=4, help="human turns each (default 4)")
    chats.add_argument("--system", default=SYSTEM_PROMPT, help="the system prompt every conversation shares")
    chats.add_argument("--seed", type=int, default=0)
    up = commands.add_parser(
        "fleet-up",
        help="the production instance: Postgres storage ($DAGSTER_PG_URL), the run "
        "queue (one run per GPU host), dagster-daemon and dagster-webserver",
    )
    up.add_argument("--host", default="127.0.0.1", help="the webserver's address (default 127.0.0.1)")
    up.add_argument("--port", type=_port, default=3000, help="the webserver's port (default 3000)")
    up.add_argument("--max-runs", type=_at_least_one, default=8, help="runs at once over all hosts (default 8)")
    up.add_argument("--workspace", type=Path, default=Path("workspace.yaml"), help="default: workspace.yaml")
    launch = commands.add_parser(
        "fleet-launch", help="queue deploy_and_evaluate runs on a fleet-up instance, each tagged with its GPU host"
    )
    launch.add_argument("partitions", nargs="*", help="deployments to run (default: all)")
    launch.add_argument("--host", default="127.0.0.1", help="the webserver's address (default 127.0.0.1)")
    launch.add_argument("--port", type=_port, default=3000, help="the webserver's port (default 3000)")
    args = parser.parse_args(argv)
    from pipelines.command_errors import CommandError
    from resources.config.loader import ConfigError
    from resources.results.file_errors import ResultsFileError

    # Mistakes a user can fix (a config file, the results file, the Dagster instance, where the
    # webserver is): the message says what and how, in place of a traceback.
    try:
        return _run(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    except ResultsFileError as exc:
        print(exc, file=sys.stderr)
        return 1


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def _port(text: str) -> int:
    port = _whole_number(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def _at_least_one(text: str) -> int:
    number = _whole_number(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is less than 1")
    return number


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from pipelines.demo import run_demo

        return run_demo(args.partitions)
    if args.command == "stop":
        from resources.config.eval_home import services_dir
        from resources.runtime.process import stop_service

        partitions = args.partitions or sorted(p.name for p in services_dir().glob("*") if p.is_dir())
        for partition in partitions:
            print(f"{partition}: {'stopped' if stop_service(partition) else 'not running'}")
        return 0
    if args.command == "import-bench":
        return _import_bench(args.files, args.partition, args.scenario)
    if args.command == "plan":
        from pipelines.runtime_commands import print_plan

        return print_plan(args.partition)
    if args.command == "diagnose":
        from pipelines.runtime_commands import print_diagnosis

        return print_diagnosis(args.logfile)
    if args.command == "restore":
        from pipelines.restore_command import print_snapshots, restore
        from resources.config.eval_home import results_db_path

        db_path = args.db or results_db_path()
        return print_snapshots(db_path) if args.list else restore(db_path, args.snapshot)
    if args.command == "make-trace":
        from resources.benchmark.trace import bursty_trace, read_trace, write_trace
        from resources.config.loader import config_dir

        rows = bursty_trace(
            args.requests,
            args.rate,
            args.burstiness,
            args.input_len,
            args.output_len,
            args.shared_prefix,
            seed=args.seed,
        )
        path = config_dir() / "traces" / f"{args.name}.jsonl"
        write_trace(path, rows)
        trace = read_trace(path)
        print(
            f"{path}: {len(rows)} requests over {trace.duration_s:.1f} s, longest {trace.longest} tokens, "
            f"{100 * trace.repeated_share():.0f} % of prompt tokens in blocks an earlier request sent; "
            f"sha256 {trace.sha256[:12]}"
        )
        return 0
    if args.command == "make-conversations":
        from resources.benchmark.multi_turn import read_conversations, synthetic_conversations, write_conversations
        from resources.config.loader import config_dir

        path = config_dir() / "conversations" / f"{args.name}.jsonl"
        write_conversations(path, synthetic_conversations(args.count, args.turns, args.system, args.seed))
        print(f"{path}: {len(read_conversations(path))} conversations of {args.turns} turns under one system prompt")
        return 0
    if args.command == "sweep":
        from pipelines import sweep_command

        if args.action == "plan":
            return sweep_command.print_plan(args.name)
        if args.action == "show":
            return sweep_command.print_summary(args.name)
        return sweep_command.run_sweep(args.name, args.points)
    if args.command == "fleet-up":
        from pipelines.fleet import fleet_up

        return fleet_up(args.workspace, args.host, args.port, args.max_runs)
    if args.command == "fleet-launch":
        from pipelines.fleet import launch_through_queue
        from resources.config.loader import load_deployments

        launch_through_queue(
            args.partitions or sorted(load_deployments()),
            args.host,
            args.port,
            on_queued=lambda partition, run_id: print(f"{partition}: queued run {run_id}", flush=True),
        )
        return 0
    return 2


def _import_bench(files: list[Path], partition: str, scenario: str | None) -> int:
    from resources.config.eval_home import results_db_path
    from resources.results.bench_import import import_result_file
    from resources.results.bench_json import BenchResultError
    from resources.results.store import ResultsStore

    store = ResultsStore(results_db_path())
    failures = 0
    for path in files:
        try:
            run_id = import_result_file(store, path, partition, scenario)
        except (OSError, BenchResultError) as exc:
            failures += 1
            print(f"{path}: not imported: {exc}", file=sys.stderr)
            continue
        print(f"{path}: imported as run {run_id} (partition {partition}, origin imported)")
    print(f"results database: {store.path}")
    if failures < len(files):
        print(f"snapshot: {store.snapshot('after-import').describe()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
