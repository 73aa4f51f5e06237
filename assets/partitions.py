"""One partition per deployment file under ``configs/deployments/``, and one per point of each
sweep under ``configs/sweeps/`` (``resources/config/sweep.py``), named when the code loads.

Only the file names are read then: each file is read and checked when a step of its partition
runs (or ``python -m pipelines plan`` shows it), so a mistake in one deployment names its file
there and leaves the others runnable.
"""

from dagster import StaticPartitionsDefinition

from resources.config.loader import deployment_files, partition_key, sweep_partitions

# Deployment files by name alone; sweep files are read (their grids name their points' keys).
deployment_partitions = StaticPartitionsDefinition(
    [partition_key(path) for path in deployment_files()] + sweep_partitions()
)
