"""One partition per deployment file under ``configs/deployments/``, read when the code loads."""

from dagster import StaticPartitionsDefinition

from resources.config.loader import load_deployments

deployment_partitions = StaticPartitionsDefinition(list(load_deployments()))
