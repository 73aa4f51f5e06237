"""Does the project's multi-turn load generator measure what ``vllm bench serve`` measures?

On the same running server, the same single-turn workload both ways: the first question of each
synthetic conversation (no system prompt), ``--output-len`` tokens each with EOS ignored,
``--concurrency`` in flight. vLLM's side is ``vllm bench serve --backend openai-chat`` on its
``custom`` dataset (the same prompts, sent as one user message, the chat template left to the
server as the generator leaves it). The two alternate for ``--rounds`` rounds; prints each side's
median output tok/s and mean TTFT, and their ratios (the goal: within 5 %).

Needs the deployment's server up: `make demo` leaves smollm2-cpu's running.

    .venv/bin/python benchmarks/multi_turn_vs_vllm.py [--partition smollm2-cpu] [--prompts 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partition", default="smollm2-cpu")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--output-len", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from resources.benchmark.multi_turn import Conversation, run_turn, synthetic_conversations
    from resources.config.eval_home import project_pythonpath
    from resources.config.loader import load_partition
    from resources.runtime.process import read_state
    from resources.serving.health import is_healthy
    from resources.serving.vllm_cli import CLI_MODULE
    from resources.weights.fetch import planned_weights_path

    deployment = load_partition(args.partition)
    state = read_state(deployment.service_name)
    if state is None or not is_healthy(state.base_url):
        raise SystemExit(
            f"no healthy server for '{args.partition}': start it first (make demo, or a run of the partition)"
        )
    rows = synthetic_conversations(args.prompts, 1, "", seed=1)
    questions = [row["conversations"][1]["value"] for row in rows]
    conversations = [Conversation(f"q{i}", None, (q,)) for i, q in enumerate(questions)]
    work = Path(tempfile.mkdtemp(prefix="multi-turn-vs-vllm-"))
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": q}) + "\n" for q in questions))
    vllm_command = [
        sys.executable, "-m", CLI_MODULE, "bench", "serve",
        "--backend", "openai-chat", "--endpoint", "/v1/chat/completions",
        "--base-url", state.base_url, "--model", deployment.served_model_name,
        "--tokenizer", str(planned_weights_path(deployment)),
        "--dataset-name", "custom", "--dataset-path", str(prompts), "--skip-chat-template",
        "--custom-output-len", str(args.output_len), "--num-prompts", str(args.prompts),
        "--max-concurrency", str(args.concurrency), "--ignore-eos", "--temperature", "0",
        "--save-result", "--result-dir", str(work), "--result-filename", "vllm.json", "--disable-tqdm",
    ]  # fmt: skip
    ours, theirs = [], []
    for round_number in range(1, args.rounds + 1):
        raw, _ = run_turn(
            state.base_url, deployment.served_model_name, None, conversations, {}, 1, args.output_len, args.concurrency
        )
        ours.append((raw["output_throughput"], raw["mean_ttft_ms"]))
        subprocess.run(
            vllm_command, check=True, capture_output=True, env=os.environ | {"PYTHONPATH": project_pythonpath()}
        )
        result = json.loads((work / "vllm.json").read_text())
        theirs.append((result["output_throughput"], result["mean_ttft_ms"]))
        print(
            f"round {round_number}: generator {ours[-1][0]:.1f} tok/s, TTFT {ours[-1][1]:.1f} ms | "
            f"vllm bench serve {theirs[-1][0]:.1f} tok/s, TTFT {theirs[-1][1]:.1f} ms",
            flush=True,
        )
    for index, name in ((0, "output tok/s"), (1, "mean TTFT ms")):
        mine, vllm = statistics.median(r[index] for r in ours), statistics.median(r[index] for r in theirs)
        print(f"{name}: generator {mine:.1f}, vllm bench serve {vllm:.1f}, generator/vllm {mine / vllm:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
