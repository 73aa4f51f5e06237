import json
from dataclasses import replace

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
from resources.config.pins import refuse_unpinned
from resources.dagster_resources import DeploymentCatalog, ResultsDatabase
from resources.hardware.gates import evaluate_gates
from resources.hardware.requirements import gate_requirements
from resources.hardware.snapshot import HardwareSnapshot


@asset(
    partitions_def=deployment_partitions,
    kinds={"python"},
    check_specs=[
        AssetCheckSpec(
            "preflight_gates",
            asset="hardware_report",
            blocking=True,
            description="The host can run the deployment: driver, GPU count, GPU memory for "
            "weights plus one full-length sequence, idle GPUs, disk. Stops the partition first.",
        ),
        AssetCheckSpec(
            "preflight_warnings",
            asset="hardware_report",
            description="Host RAM, PCIe links, swap and /dev/shm: recorded, not blocking.",
        ),
    ],
    description="The serving host's GPUs (from NVML), driver, links, RAM, swap, /dev/shm and the disk where "
    "the weights land, read on that host (a capture container on a Docker engine), with a fingerprint of the "
    "stable facts that every result row carries; then the pre-flight gates on the deployment's own GPUs.",
)
def hardware_report(context: AssetExecutionContext, deployments: DeploymentCatalog, results_db: ResultsDatabase):
    deployment = deployments.get(context.partition_key)
    refuse_unpinned(deployment)  # before anything is measured, pulled or downloaded
    runtime = deployments.runtime(context.partition_key)
    captured = runtime.capture_hardware(context.log.info)  # on the host that will serve
    report = captured.report
    facts = report.as_dict()
    results_db.store().record_hardware_report(
        context.run.run_id,
        context.partition_key,
        report.fingerprint,
        report.nvidia_driver_present,
        json.dumps(facts, sort_keys=True, default=str),
    )
    context.log.info(
        f"hardware fingerprint {report.fingerprint}; NVIDIA driver "
        f"{'present' if report.nvidia_driver_present else 'absent'}; the deployment needs "
        f"{'a GPU' if deployment.needs_gpu else 'no GPU'}"
    )
    # The partition's own kept server (reused below) is not a stranger on its GPUs.
    own_pids = runtime.own_pids() if deployment.needs_gpu else []
    requirements = gate_requirements(deployment, captured.weights_present, model_config=captured.model_config)
    gates = evaluate_gates(report, replace(requirements, ignore_pids=own_pids))
    blocking = [g for g in gates if g.severity == "ERROR"]
    warnings = [g for g in gates if g.severity == "WARN"]
    for gate in gates:
        (context.log.info if gate.passed else context.log.warning)(
            f"gate {gate.name}: {'pass' if gate.passed else 'FAIL'}: {gate.description}"
        )
    gate_table = "| gate | severity | outcome | detail |\n| --- | --- | --- | --- |\n" + "\n".join(
        f"| {g.name} | {g.severity} | {'pass' if g.passed else 'FAIL'} | {g.description.replace('|', '/')} |"
        for g in gates
    )
    failed = [g for g in blocking if not g.passed]
    warned = [g for g in warnings if not g.passed]
    return MaterializeResult(
        value=HardwareSnapshot(report.fingerprint, report.nvidia_driver_present, facts),
        metadata={
            "fingerprint": report.fingerprint,
            "nvidia_driver_present": report.nvidia_driver_present,
            "report": MetadataValue.md(report.to_markdown()),
            "gates": MetadataValue.md(gate_table),
        },
        check_results=[
            AssetCheckResult(
                check_name="preflight_gates",
                passed=not failed,
                severity=AssetCheckSeverity.ERROR,
                description="; ".join(f"{g.name}: {g.description}" for g in failed) or "every blocking gate passed",
                metadata={g.name: g.passed for g in blocking},
            ),
            AssetCheckResult(
                check_name="preflight_warnings",
                passed=not warned,
                severity=AssetCheckSeverity.WARN,
                description="; ".join(f"{g.name}: {g.description}" for g in warned) or "no warnings",
                metadata={g.name: g.passed for g in warnings},
            ),
        ],
    )
