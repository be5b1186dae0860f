"""The set of pinned roots: one empty file per pinned CID, so pinning is one atomic create."""

from __future__ import annotations

import os
from pathlib import Path

from parity_p2p.storage.errors import InvalidCid
from parity_p2p.storage.multiformats import Cid


class PinSet:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def add(self, cid: Cid) -> None:
        (self.directory / str(cid.to_v1())).touch(exist_ok=True)

    def remove(self, cid: Cid) -> bool:
        try:
            (self.directory / str(cid.to_v1())).unlink()
        except FileNotFoundError:
            return False
        return True

    def __contains__(self, cid: Cid) -> bool:
        return (self.directory / str(cid.to_v1())).is_file()

    def roots(self) -> list[Cid]:
        roots = []
        for entry in sorted(self.directory.iterdir()):
            try:
                roots.append(Cid.parse(entry.name))
            except InvalidCid:
                continue  # not ours (an editor's backup file, say)
        return roots
