from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.figures import figure
from resources.runtime.values import ServiceInfo
from resources.serving.smoke_client import run_smoke, ttft_comparison


@asset(
    partitions_def=deployment_partitions,
    kinds={"python"},
    check_specs=[
        AssetCheckSpec(
            "server_answers",
            asset="smoke_test",
            blocking=True,
            description="The server lists the served model and answers every smoke "
            "prompt, plain and streamed, as its expectations require (the answer, time to "
            "first token, no gibberish, reasoning on or off, a tool call); nothing is "
            "benchmarked behind a broken server.",
        )
    ],
    description="The OpenAI API answers: /v1/models lists the served name, a chat completion and a "
    "streamed one (with its time to first token) for each smoke prompt, checked against the prompt's "
    "expectations; token counts are the server's usage; the client's TTFT beside vLLM's own TTFT "
    "histogram (/metrics) for the same streamed requests.",
)
def smoke_test(context: AssetExecutionContext, deployments: DeploymentCatalog, vllm_service: ServiceInfo):
    deployment = deployments.get(context.partition_key)
    api_key = deployment.runtime.api_key()
    outcome = run_smoke(vllm_service.base_url, vllm_service.served_model_name, deployment.spec.smoke, api_key)
    table = (
        "| prompt | ok | tokens | latency ms | TTFT ms | reply |\n| --- | --- | --- | --- | --- | --- |\n"
        + "\n".join(
            f"| {p.name} | {'yes' if p.ok else 'NO: ' + (p.error or '')} | {p.completion_tokens or ''} | "
            f"{p.latency_ms or 0:.1f} | {figure(p.ttft_ms, '.1f', absent='')} | "
            f"{p.content[:60].replace('|', ' ').replace(chr(10), ' ')} |"
            for p in outcome.prompts
        )
    )
    for problem in outcome.problems:
        context.log.error(problem)
    ttft = ttft_comparison(outcome)
    context.log.info(ttft["ttft_comparison"])
    return MaterializeResult(
        value={
            "passed": outcome.passed,
            "stream_ttft_ms": outcome.stream_ttft_ms,
            "problems": outcome.problems,
            "client_ttft_ms": outcome.client_ttft_mean_ms,
            "server_ttft_ms": outcome.server_ttft_mean_ms,
        },
        metadata={
            "passed": outcome.passed,
            "models_listed": ", ".join(outcome.models_listed),
            "stream_ttft_ms": outcome.stream_ttft_ms if outcome.stream_ttft_ms is not None else -1.0,
            **ttft,
            "prompts": MetadataValue.md(table),
        },
        check_results=[
            AssetCheckResult(
                check_name="server_answers",
                passed=outcome.passed,
                severity=AssetCheckSeverity.ERROR,
                description="all smoke prompts answered" if outcome.passed else "; ".join(outcome.problems),
                metadata={
                    "problems": len(outcome.problems),
                    **(
                        {"failures": MetadataValue.md("\n".join(f"- {p}" for p in outcome.problems))}
                        if outcome.problems
                        else {}
                    ),
                },
            )
        ],
    )
