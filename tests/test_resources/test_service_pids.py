"""The idle-GPU gate ignores the processes of the partition's own kept server, and only those."""

from __future__ import annotations

import os

from resources.config.loader import load_deployments
from resources.runtime.service_pids import own_service_pids, process_group_pids


def test_a_process_groups_members_are_found_by_their_leader():
    assert os.getpid() in process_group_pids(os.getpgrp())


def test_a_deployment_with_no_server_running_claims_no_processes():
    assert own_service_pids(load_deployments()["tiny-gpu-tp2"]) == []
    assert own_service_pids(load_deployments()["glm5-int4-4gpu"]) == []
