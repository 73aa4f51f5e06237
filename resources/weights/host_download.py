"""Downloads a hub model on the serving host, inside a short-lived container of its vLLM image.

``python -m resources.weights.host_download REPO REVISION DEST TOKEN_FILE`` runs there with the
image's own huggingface_hub: ``snapshot_download`` at the pinned revision into ``DEST`` (a named
volume), then the content hash of what landed, printed as ``content_hash`` prints it. The token
comes in a file copied into the container before it starts and deleted as soon as it is read, so
it is in no command line, no environment variable and no ``docker inspect`` output.
"""

from __future__ import annotations

import os
import sys

# snapshot_download's own bookkeeping in DEST (download metadata): not part of the model.
DOWNLOADER_FILES = ".cache"


def read_token(token_file: str) -> str | None:
    """The token in ``token_file``, which is removed at once; None when there is none."""
    if not os.path.exists(token_file):
        return None
    try:
        with open(token_file) as handle:
            return handle.read().strip() or None
    finally:
        os.remove(token_file)


def main(argv: list[str]) -> int:
    repo, revision, dest, token_file = argv
    token = read_token(token_file)
    from huggingface_hub import snapshot_download

    from resources.weights.content_hash import main as print_hash

    snapshot_download(repo_id=repo, revision=revision, local_dir=dest, token=token)
    return print_hash([dest, DOWNLOADER_FILES])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
