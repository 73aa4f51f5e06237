"""The idle-GPU gate ignores the processes of the partition's own kept server, and only those."""

from __future__ import annotations

import os

from resources.config.loader import load_deployments
from resources.runtime import runtime_for
from resources.runtime.process import process_group_pids


def test_a_process_groups_members_are_found_by_their_leader():
    assert os.getpid() in process_group_pids(os.getpgrp())


def test_a_deployment_with_no_server_running_claims_no_processes():
    assert runtime_for(load_deployments()["tiny-gpu-tp2"]).own_pids() == []
    assert runtime_for(load_deployments()["glm5-int4-4gpu"]).own_pids() == []
