"""``python -m pipelines plan PARTITION``: the docker commands a deployment will run, without running them.

Rendered from the same pure functions the runtime uses (container spec, build hash, bench
arguments), so what is printed is what runs. Only what is decided at run time is a placeholder:
the config hash (it includes the image digest and the weights' revision) and the per-run seed.
Secrets are never printed: they appear as ``"$NAME"``, the variable they are read from.
"""

from __future__ import annotations

from pathlib import Path

from resources.benchmark.command import expand_scenario, render_bench_args
from resources.config.docker import BuildImage
from resources.config.models import Deployment
from resources.runtime.command_line import shell_join
from resources.runtime.docker.engine import engine_address
from resources.runtime.docker.image import build_labels, build_tag, context_hash
from resources.runtime.docker.spec import container_name, docker_run_argv, docker_settings, render_container_spec
from resources.runtime.docker.weights_volume import placement_plan, planned_volume, uses_weights_volume
from resources.weights.fetch import planned_weights_path

CONFIG_HASH_PLACEHOLDER = "<config-hash>"
SEED_PLACEHOLDER = "<per-run-seed>"


def _with_engine(argv: list[str], engine: str | None, tls=None) -> list[str]:
    if not engine:
        return argv
    verify = (
        ["--tlsverify", "--tlscacert", tls.ca_cert, "--tlscert", tls.client_cert, "--tlskey", tls.client_key]
        if tls
        else []
    )
    return [argv[0], "-H", engine, *verify, *argv[1:]]


def build_argv(deployment: Deployment, config_root: Path) -> list[str]:
    spec = docker_settings(deployment).image.build
    context = (config_root / spec.context).resolve()
    hash_ = context_hash(context, spec.dockerfile, spec.args) if context.is_dir() else "<context missing>"
    argv = ["docker", "build", "-f", str(context / spec.dockerfile)]
    for key, value in sorted(spec.args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(build_labels(spec, hash_).items()):
        argv += ["--label", f"{key}={value}"]
    return argv + ["-t", build_tag(spec, hash_), str(context)]


def render_plan(deployment: Deployment, config_root: Path) -> str:
    settings = docker_settings(deployment)
    runtime = deployment.runtime
    engine = settings.engine
    tls = settings.tls
    address = engine_address(engine)
    name = container_name(deployment.service_name)
    out = [
        f"# plan for '{deployment.key}': runtime docker, engine {address.url} ({address.source})",
        '# nothing has been run; secrets appear as "$NAME", read from the environment when the pipeline runs',
        "",
    ]
    out += _capture_lines(deployment)
    if isinstance(settings.image, BuildImage):
        argv = build_argv(deployment, config_root)
        image = argv[argv.index("-t") + 1]
        out += [
            "# 1. image: built from configs/ (skipped when an image with this context hash exists)",
            shell_join(_with_engine(argv, engine, tls)),
        ]
    else:
        image = settings.image.pull
        out += [
            "# 1. image: pinned, pulled when the engine does not have it; its repo digest is recorded",
            shell_join(_with_engine(["docker", "pull", image], engine, tls)),
        ]
    model = deployment.model
    weights = planned_weights_path(deployment)
    identity = f"{model.repo} at revision {model.revision}" if model.source == "huggingface" else model.source
    volume = None
    if uses_weights_volume(deployment):
        volume, _ = planned_volume(deployment)
        out += [
            "",
            f"# 2. weights: {identity}, in volume {volume} on the engine's host, their content hash "
            "computed there (a container of the image, no network unless downloading)",
        ]
        for step in placement_plan(deployment, image, weights):
            out.append(step if isinstance(step, str) else shell_join(_with_engine(step, engine, tls)))
    else:
        out += ["", f"# 2. weights: {identity}, mounted read-only from {settings.weights_path or weights}"]

    spec = render_container_spec(deployment, image, weights, CONFIG_HASH_PLACEHOLDER, volume)
    out += [
        "",
        "# 3. service: reused when a healthy container with the same config hash runs; else replaced",
        shell_join(_with_engine(["docker", "rm", "-f", name], engine, tls)),
        shell_join(_with_engine(docker_run_argv(spec), engine, tls)),
        f"# then wait for GET http://{'127.0.0.1' if runtime.host == '0.0.0.0' else runtime.host}:"
        f"{runtime.port}/health (start-up timeout {runtime.startup_timeout_s:g} s), following docker logs {name}",
    ]

    out += ["", f"# 4. benchmark ({settings.bench}): vllm bench serve from the same image, per load point"]
    secret = [f"OPENAI_API_KEY=${runtime.api_key_env}"] if runtime.api_key_env else []
    for scenario in deployment.spec.benchmarks:
        for point in expand_scenario(scenario):
            seed = scenario.seed if isinstance(scenario.seed, int) else 0
            args = render_bench_args(
                point,
                f"http://127.0.0.1:{runtime.port}",
                deployment.served_model_name,
                spec.model_path,
                "/tmp",
                f"vllm-eval-bench-{point.name.replace('/', '_')}.json",
                seed,
            )
            if not isinstance(scenario.seed, int):
                args[args.index("--seed") + 1] = SEED_PLACEHOLDER
            out.append(f"# {point.name}")
            out.append(shell_join(_with_engine(_bench_argv(settings, spec, name, secret, args), engine, tls)))

    out += ["", f"# 5. teardown: {runtime.teardown}"]
    if runtime.teardown == "stop":
        out.append(shell_join(_with_engine(["docker", "rm", "-f", name], engine, tls)))
    else:
        out.append(f"# the container keeps running for the next run; stop it with: docker rm -f {name}")
    return "\n".join(out) + "\n"


def _capture_lines(deployment: Deployment) -> list[str]:
    from resources.runtime.docker.capture import CaptureError, capture_image, engine_weights_dir
    from resources.runtime.docker.spec import gpus_flag

    try:
        image = capture_image(deployment)
    except CaptureError as exc:
        return [f"# 0. hardware report: cannot run: {exc}", ""]
    gpus = " ".join(gpus_flag(docker_settings(deployment).gpus if deployment.needs_gpu else None)) or "no GPU"
    return [
        f"# 0. hardware report: a capture container of {image} on the engine ({gpus}, no network, the host's",
        f"#    root read-only) reads the GPUs, memory, /dev/shm and the disk at {engine_weights_dir(deployment)};"
        " then it is removed",
        "",
    ]


def _bench_argv(settings, spec, name: str, secret: list[str], args: list[str]) -> list[str]:
    command = [*settings.vllm_command, "bench", "serve", *args]
    env = [flag for pair in secret for flag in ("-e", pair)]
    if settings.bench == "exec":
        return ["docker", "exec", *env, name, *command]
    volumes = [flag for volume in spec.volumes for flag in ("-v", volume)]
    env += [flag for key, value in sorted(spec.environment.items()) for flag in ("-e", f"{key}={value}")]
    return [
        "docker",
        "run",
        "--rm",
        "--network",
        f"container:{name}",
        *env,
        *volumes,
        "--entrypoint",
        command[0],
        spec.image,
        *command[1:],
    ]
