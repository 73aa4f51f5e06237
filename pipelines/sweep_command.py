"""``python -m pipelines sweep plan|run|show NAME``: a sweep's points before, while and after they run.

``plan`` spends nothing: each point's partition key, what it sets, and its exact ``vllm serve``
line, or why the point is refused. ``run`` runs every point through the chain, one after another
(one server at a time: the points share the sweep's port and its server slot), records a failed
point and goes on, then rebuilds the report and prints the winner per objective. ``show`` prints
that summary from the results database alone. The same points run as a Dagster backfill: select
the sweep's partitions (their keys start with ``NAME.``) in the UI, or ``fleet-launch`` them.
"""

from __future__ import annotations

import time

from pipelines.command_errors import CommandError
from resources.config.eval_home import results_db_path
from resources.config.loader import ConfigError, load_partition, load_sweep, sweep_files, sweep_point_keys, sweeps_dir
from resources.config.sweep import describe_settings
from resources.results.store import ResultsStore
from resources.results.sweep_summary import summarize_sweep


def _sweep_path(name: str):
    path = sweeps_dir() / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sweep_files()) or "(none)"
        raise CommandError(f"no sweep '{name}': expected {path}. Sweeps: {known}")
    return path


def sweep_points(name: str) -> dict:
    """Partition key -> the point's deployment, or the ConfigError that refuses it."""
    path = _sweep_path(name)
    load_sweep(path)  # a broken file is the file's error, not every point's
    points = {}
    for key in sweep_point_keys(path):
        try:
            points[key] = load_partition(key)
        except ConfigError as exc:
            points[key] = exc
    return points


def print_plan(name: str) -> int:
    from resources.runtime.command_line import shell_join
    from resources.serving.vllm_args import render_serve_args
    from resources.weights.fetch import planned_weights_path

    points = sweep_points(name)
    refused = 0
    print(f"sweep '{name}': {len(points)} points, run one at a time")
    for number, (key, point) in enumerate(points.items(), start=1):
        print(f"\n[{number}/{len(points)}] {key}")
        if isinstance(point, ConfigError):
            refused += 1
            print(f"  REFUSED: {point}")
            continue
        print(f"  sets: {describe_settings(point.sweep_settings)}")
        print(f"  vllm serve {shell_join(render_serve_args(point, planned_weights_path(point)))}")
        for scenario in point.spec.benchmarks:
            search = scenario.slo_search
            load = (
                f"SLO search over concurrency {search.start}..{search.max}, goal {100 * search.goal:.0f} %"
                if search
                else f"concurrency {scenario.max_concurrency or 'unbounded'}"
            )
            print(
                f"  bench {scenario.name}: {scenario.num_prompts} prompts x {scenario.repeat}, "
                f"{scenario.input_len} in / {scenario.output_len} out, {load}"
            )
    if refused:
        print(f"\n{refused} of {len(points)} points refused; `sweep run` skips them and reports them")
    return 0


def run_sweep(name: str, only: list[str] | None = None) -> int:
    from pipelines.definitions import defs
    from pipelines.demo import step_times
    from pipelines.instance import ensure_dagster_home, load_instance

    points = sweep_points(name)
    if only:
        unknown = sorted(set(only) - set(points))
        if unknown:
            raise CommandError(f"sweep '{name}' has no point(s) {', '.join(unknown)}; its points: {', '.join(points)}")
        points = {key: points[key] for key in only}
    ensure_dagster_home()
    instance = load_instance()
    job = defs.resolve_job_def("deploy_and_evaluate")
    outcomes: dict[str, str] = {}
    started_all = time.monotonic()
    for number, (key, point) in enumerate(points.items(), start=1):
        label = f"[{number}/{len(points)}] {key}"
        if isinstance(point, ConfigError):
            outcomes[key] = "refused"
            print(f"== {label}: REFUSED: {point}", flush=True)
            continue
        started = time.monotonic()
        print(f"== {label}: {describe_settings(point.sweep_settings)}", flush=True)
        result = job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, tags={"sweep": name}
        )
        outcomes[key] = "succeeded" if result.success else "FAILED"
        if not result.success:
            error = record_failed_point(result, point)
            print(f"== {label}: FAILED: {error.splitlines()[0] if error else 'no error recorded'}", flush=True)
        print(
            f"== {label}: {outcomes[key]} in {time.monotonic() - started:.1f} s (run {result.run_id})",
            flush=True,
        )
        print(f"   steps: {step_times(instance, result.run_id)}", flush=True)
    print(f"== sweep '{name}': {len(points)} points in {time.monotonic() - started_all:.1f} s", flush=True)
    report = defs.resolve_job_def("refresh_comparison_report").execute_in_process(instance=instance)
    print(f"== comparison_report: {'succeeded' if report.success else 'FAILED'}", flush=True)
    print_summary(name)
    failed = [key for key, outcome in outcomes.items() if outcome != "succeeded"]
    if failed:
        print(f"\n{len(failed)} point(s) did not succeed: " + ", ".join(f"{k} ({outcomes[k]})" for k in failed))
    return 1 if failed else 0


def record_failed_point(result, point) -> str:
    """A failed point's run in the results database, with its sweep and error, as the run-failure
    sensor records a failed run under the daemon (a command's in-process runs have no daemon)."""
    from pipelines.failure_cleanup import clean_up_failed_run

    error = "; ".join(event.message or "" for event in result.get_step_failure_events()) or "run failed"
    clean_up_failed_run(result.run_id, point.key, error, log=lambda message: print(message, flush=True))
    return error


def print_summary(name: str) -> int:
    _sweep_path(name)
    summary = summarize_sweep(ResultsStore(results_db_path()), name)
    if summary.empty:
        print(f"sweep '{name}': no succeeded point recorded yet in {results_db_path()}")
        return 1
    table = summary.points.drop(
        columns=["sweep_settings", "units", "device", "finished_at", "partition", "config_hash"]
    )
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nWhich parameter set is best:")
    for verdict in summary.verdicts:
        print(f"- {verdict.objective}: {verdict.sentence}")
    for partition, error in summary.failed.items():
        print(f"- FAILED, left out: {partition}: {error}")
    return 0
