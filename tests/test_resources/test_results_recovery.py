"""A bad day for the results history: a damaged file, an old schema, a held lock, and the way back.

Every test works on real DuckDB files: a history recorded through the store from a real
`vllm bench serve` result, then damaged on disk the way a disk fault or a cut-short copy does.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.__main__ import main as cli
from resources.results.bench_json import parse_bench_result
from resources.results.file_errors import ResultsFileError, explain_open_failure
from resources.results.restore import RestoreError, choose_snapshot, restore_database
from resources.results.snapshots import list_snapshots, names_to_drop, read_snapshot, snapshot_folder
from resources.results.store import MIGRATIONS, SCHEMA_VERSION, ResultsStore
from tests.prerequisites import require

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "vllm"
REAL_RESULT = json.loads((FIXTURES / "bench_serve_result_cpu.json").read_text())
BLOCK = 262144  # DuckDB's block size; data blocks follow three 4 KiB headers
HEADERS = 3 * 4096


def _record(store: ResultsStore, night: int) -> None:
    """One nightly run: the real CPU result and one request row per latency it measured."""
    run_id, when = f"night-{night:03d}", datetime(2026, 6, 1, 2) + timedelta(days=night)
    row = parse_bench_result(REAL_RESULT)
    requests = [
        {
            "run_id": run_id,
            "partition": "tiny-cpu-eager",
            "scenario": "short-burst",
            "request_index": i,
            "latency_ms": latency * 1000,
        }
        for i, latency in enumerate(REAL_RESULT["latencies"])
    ]
    store.record_run(
        {
            "run_id": run_id,
            "partition": "tiny-cpu-eager",
            "status": "succeeded",
            "started_at": when,
            "finished_at": when + timedelta(minutes=3),
            "hardware_fingerprint": "cpu1",
        },
        [{"run_id": run_id, "partition": "tiny-cpu-eager", "scenario": "short-burst", **row}],
        requests,
    )
    store.record_hardware_report(run_id, "tiny-cpu-eager", "cpu1", False, '{"cpu": true}')


def _counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = [
            t
            for (t,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in sorted(tables)}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """A results file with 40 nightly runs and a snapshot taken after the last one."""
    path = tmp_path_factory.mktemp("history") / "results.duckdb"
    store = ResultsStore(path)
    for night in range(40):
        _record(store, night)
    store.snapshot()
    return path


@pytest.fixture
def copy(history, tmp_path) -> Path:
    """A copy of the history and its snapshots, for one test to damage."""
    shutil.copytree(history.parent, tmp_path / "eval")
    return tmp_path / "eval" / "results.duckdb"


def _data_block_offset(path: Path) -> int:
    """Where a block holding per-request rows starts in the file."""
    with duckdb.connect(str(path), read_only=True) as connection:
        block = connection.execute(
            "SELECT max(block_id) FROM pragma_storage_info('benchmark_requests') "
            "WHERE block_id >= 0 AND column_name = 'latency_ms'"
        ).fetchone()[0]
    return HEADERS + block * BLOCK


def _zero(path: Path, offset: int, length: int = 20480) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(b"\0" * length)


NOT_DUCKDB, DAMAGED = "it is not a DuckDB database", "it is damaged"
DAMAGE = {  # what happens to the file: the cause the error gives
    "its first block zeroed": (lambda path: _zero(path, 0), NOT_DUCKDB),
    "its catalog header zeroed": (lambda path: _zero(path, 4096), DAMAGED),
    "a data block zeroed": (lambda path: _zero(path, _data_block_offset(path)), DAMAGED),
    "cut short to half": (lambda path: os.truncate(path, path.stat().st_size // 2), DAMAGED),
    "a text file copied over it": (
        lambda path: path.write_text("run_id,partition\nnight-001,tiny-cpu-eager\n"),
        NOT_DUCKDB,
    ),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_file_is_refused_naming_the_file_and_restore_and_nothing_is_written(copy, damage):
    harm, cause = DAMAGE[damage]
    harm(copy)
    before = _sha(copy)
    with pytest.raises(ResultsFileError) as refused:
        _record(ResultsStore(copy, lock_wait_s=1), 40)
    message = str(refused.value)
    assert message.startswith(f"results database {copy}: {cause}")
    assert f"python -m pipelines restore --db {copy}" in message and "Nothing was written" in message
    assert _sha(copy) == before


def test_a_zeroed_data_block_that_duckdb_opens_without_complaint_is_still_caught_before_a_write(copy):
    _zero(copy, _data_block_offset(copy))
    duckdb.connect(str(copy)).close()  # DuckDB reads only the header and catalog when it opens a file
    with pytest.raises(ResultsFileError, match="it is damaged.*computed checksum"):
        _record(ResultsStore(copy), 40)


def test_import_bench_on_a_damaged_file_says_which_file_and_how_to_recover(copy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVAL_HOME", str(copy.parent))
    _zero(copy, _data_block_offset(copy))
    saved = tmp_path / "by-hand.json"
    saved.write_text(json.dumps(REAL_RESULT))
    assert cli(["import-bench", str(saved), "--partition", "tiny-cpu-eager"]) == 1
    error = capsys.readouterr().err
    assert f"results database {copy}: it is damaged" in error
    assert "run `python -m pipelines restore`" in error and "Traceback" not in error


def test_restore_brings_back_every_row_of_the_last_snapshot_and_keeps_the_damaged_file(copy, capsys):
    healthy = _counts(copy)
    snapshot = list_snapshots(snapshot_folder(copy), "results")[-1]
    assert read_snapshot(snapshot).tables == healthy
    _zero(copy, _data_block_offset(copy))
    damaged = _sha(copy)

    assert cli(["restore", "--db", str(copy)]) == 0
    printed = capsys.readouterr().out
    assert _counts(copy) == healthy  # table by table
    assert "runs: 40" in printed and "result rows: 40" in printed and f"request rows: {40 * 32:,}" in printed
    assert "newest run: night-039 (tiny-cpu-eager, succeeded, finished 2026-07-10 02:03:00)" in printed
    aside = [p for p in copy.parent.iterdir() if p.name.startswith("results.duckdb.before-restore-")]
    assert [_sha(p) for p in aside] == [damaged] and str(aside[0]) in printed

    _record(ResultsStore(copy), 40)  # the restored file takes the next run
    assert _counts(copy)["runs"] == 41


def test_a_named_snapshot_is_restored_and_an_unknown_name_lists_the_ones_there(copy, capsys):
    _record(ResultsStore(copy), 40)
    ResultsStore(copy).snapshot()
    older, newer = list_snapshots(snapshot_folder(copy), "results")
    assert read_snapshot(newer).tables["runs"] == 41
    assert cli(["restore", "--db", str(copy), older.name]) == 0
    assert _counts(copy)["runs"] == 40
    with pytest.raises(RestoreError, match=newer.name):
        choose_snapshot(copy, "results-20260101T000000.000000Z-after-run")


def test_only_the_newest_n_snapshots_are_kept_and_no_half_snapshot_is_left(tmp_path, monkeypatch):
    monkeypatch.setenv("EVAL_RESULTS_SNAPSHOTS_KEEP", "3")
    store = ResultsStore(tmp_path / "results.duckdb")
    taken = []
    for night in range(5):
        _record(store, night)
        taken.append(store.snapshot())
    kept = list_snapshots(snapshot_folder(store.path), "results")
    assert kept == [s.path for s in taken[-3:]]
    assert [read_snapshot(p).tables["runs"] for p in kept] == [3, 4, 5]
    assert sorted(p.name for p in snapshot_folder(store.path).iterdir()) == [p.name for p in kept]
    assert ResultsStore(tmp_path / "other.duckdb", snapshots_keep=1).snapshots_keep == 1
    assert names_to_drop(["b", "a", "c"], 2) == ["a"] and names_to_drop(["a"], 2) == []


def test_a_migration_from_the_first_schema_snapshots_the_old_file_first(tmp_path, capsys):
    path = tmp_path / "results.duckdb"
    with duckdb.connect(str(path)) as old:
        for statement in MIGRATIONS[0]:
            old.execute(statement)
        old.execute("INSERT INTO runs (run_id, partition, status) VALUES ('from-v1', 'p', 'succeeded')")
    _record(ResultsStore(path), 1)

    (snapshot,) = list_snapshots(snapshot_folder(path), "results")
    assert snapshot.name.endswith(f"before-migration-v1-to-v{SCHEMA_VERSION}")
    assert read_snapshot(snapshot).schema_version == 1
    assert read_snapshot(snapshot).tables == {"benchmark_results": 0, "hardware_reports": 0, "runs": 1}
    assert _counts(path)["runs"] == 2

    # Going back to it gives the version-1 file, which the next write migrates again.
    assert cli(["restore", "--db", str(path)]) == 0
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT run_id FROM runs").fetchall() == [("from-v1",)]
        assert "benchmark_requests" not in {t for (t,) in connection.execute("SHOW TABLES").fetchall()}
    assert ResultsStore(path).query("SELECT max(version) AS v FROM schema_version")["v"][0] == SCHEMA_VERSION


def test_a_file_from_newer_code_is_refused_and_left_as_it_is(copy):
    with duckdb.connect(str(copy)) as connection:
        connection.execute("UPDATE schema_version SET version = ?", [SCHEMA_VERSION + 1])
    before = _sha(copy)
    with pytest.raises(ResultsFileError, match=f"schema is version {SCHEMA_VERSION + 1}, newer than"):
        _record(ResultsStore(copy), 40)
    with pytest.raises(ResultsFileError, match=str(copy)):
        ResultsStore(copy).query("SELECT * FROM runs")
    assert _sha(copy) == before


def test_a_directory_where_the_file_should_be_is_named_as_such(tmp_path):
    # The tests run as root, who may read any file: a directory in the file's place is the
    # unreadable file that root cannot read either.
    path = tmp_path / "results.duckdb"
    path.mkdir()
    with pytest.raises(ResultsFileError, match="a directory stands where the file should be") as refused:
        _record(ResultsStore(path), 0)
    assert "python -m pipelines restore --db" in str(refused.value)


def test_a_file_this_user_may_not_read_says_whose_access_to_fix(history):
    # Root reads any file, so the store runs as the unprivileged user `nobody` (uid 65534).
    require(os.geteuid() == 0, "needs root to become another user (CI runs as root)")
    require(shutil.which("setpriv") is not None, "needs setpriv to become another user (Debian: util-linux)")
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        path = Path(folder) / "results.duckdb"
        shutil.copy(history, path)
        os.chmod(path, 0o600)
        store = f"from resources.results.store import ResultsStore; ResultsStore({str(path)!r})"
        attempt = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                f"{store}.record_failed_run({{'run_id': 'x', 'partition': 'p', 'status': 'failed'}})",
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert attempt.returncode != 0
        assert (
            f"ResultsFileError: results database {path}: this user may not read or write it "
            "(DuckDB: IO Error: Cannot open file"
        ) in attempt.stderr
        assert "Give this user read and write access to it (chown/chmod)" in attempt.stderr
        assert _counts(path)["runs"] == 40


def test_a_file_held_past_the_wait_says_so_and_restore_refuses_to_move_it(copy, tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import duckdb, sys, time
        connection = duckdb.connect({str(copy)!r})
        print("holding", flush=True)
        sys.stdin.read()
    """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(ResultsFileError, match="still locked after 1 s of waiting .*: another process holds it"):
            _record(ResultsStore(copy, lock_wait_s=1), 40)
        with pytest.raises(RestoreError, match="another process holds it"):
            restore_database(copy, choose_snapshot(copy), SCHEMA_VERSION)
    finally:
        holder.communicate("")
    assert _counts(copy)["runs"] == 40


def test_a_snapshot_missing_a_table_is_refused_and_the_current_file_is_left_in_place(copy, capsys):
    (snapshot,) = list_snapshots(snapshot_folder(copy), "results")
    (snapshot / "benchmark_requests.parquet").unlink()
    before = _sha(copy)
    assert cli(["restore", "--db", str(copy)]) == 1
    assert f"not restored: {snapshot}: the database could not be rebuilt from it" in capsys.readouterr().err
    assert _sha(copy) == before and sorted(p.name for p in copy.parent.iterdir()) == ["results.duckdb", "snapshots"]
    assert cli(["restore", "--db", str(copy), "--list"]) == 0
    assert (
        f"{snapshot.name}: accuracy_items 0, accuracy_runs 0, benchmark_repetitions 0, "
        "benchmark_requests 1,280, benchmark_results 40" in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "said",
    [
        # The installed duckdb's own messages for a file from a newer DuckDB (its header is checksummed,
        # so such a file cannot be forged here).
        'Error opening "results.duckdb": file was written with a storage version greater than the latest version '
        "supported by this DuckDB instance. Try opening the file with a newer version of DuckDB.",
        "Trying to read a database file with storage version number 80, but we can only read storage versions "
        "between 64 and 72.",
    ],
)
def test_a_file_from_a_newer_duckdb_says_which_duckdb_to_install(said):
    error = explain_open_failure(
        Path("/srv/eval/results.duckdb"), duckdb.IOException(said), 120, "python -m pipelines restore"
    )
    assert f"written by a newer DuckDB than the installed duckdb {duckdb.__version__}" in error.cause
    assert "Install the newer duckdb" in error.fix
