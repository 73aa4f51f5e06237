"""What a deployment could not pin yet, and the command that finds the commit to pin.

A config writes ``UNPINNED`` where a commit is not known (a hub revision, a build argument):
a value nobody can take for a commit. ``plan`` shows each one; a run refuses to start with any,
since it could not be replayed: tonight's weights or image would differ from next month's.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.config.models import UNPINNED, Deployment

# Build arguments whose upstream is known, with the command that prints its newest commit.
KNOWN_REPOSITORIES = {"TRANSFORMERS_REF": "https://github.com/huggingface/transformers.git"}


class UnpinnedError(RuntimeError):
    """A run was asked of a deployment with an input still marked UNPINNED."""


@dataclass(frozen=True)
class Unpinned:
    field: str  # where it is written, e.g. configs/models/x.yaml: revision
    find_commit: str  # a command that prints a commit to pin

    def describe(self) -> str:
        return f"{self.field} is {UNPINNED}; find the commit with `{self.find_commit}` and write it there"


def unpinned_inputs(deployment: Deployment) -> list[Unpinned]:
    found = []
    model = deployment.model
    if model.source == "huggingface" and model.revision == UNPINNED:
        found.append(
            Unpinned(
                f"configs/models/{deployment.model_name}.yaml: revision",
                f"git ls-remote https://huggingface.co/{model.repo} refs/heads/main",
            )
        )
    docker = deployment.runtime.docker
    build = getattr(docker.image, "build", None) if docker else None
    for name, value in sorted((build.args if build else {}).items()):
        if value == UNPINNED:
            repository = KNOWN_REPOSITORIES.get(name, "<the repository it names>")
            found.append(
                Unpinned(
                    f"configs/deployments/{deployment.key}.yaml: runtime.docker.image.build.args.{name}",
                    f"git ls-remote {repository} refs/heads/main",
                )
            )
    return found


def refuse_unpinned(deployment: Deployment) -> None:
    """Raises ``UnpinnedError`` naming each unpinned input and how to pin it."""
    found = unpinned_inputs(deployment)
    if found:
        raise UnpinnedError(
            f"deployment '{deployment.key}' cannot run: a replay must load the same bytes, and "
            + "; ".join(u.describe() for u in found)
        )


def plan_lines(deployment: Deployment) -> list[str]:
    """Comment lines for ``python -m pipelines plan``: each unpinned input and its command."""
    return [
        f"# NOT PINNED: {u.describe()}; a run refuses this deployment until then" for u in unpinned_inputs(deployment)
    ]
