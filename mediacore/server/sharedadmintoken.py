"""One admin token for a cluster whose config names none.

A node alone makes an admin token at first start and keeps it in its data directory
(auth.py). In a cluster the first node to join offers its own (`SET mc:admin-token NX`); every
other node adopts the cluster's: it answers to it from then on, and writes it to its own
admin-token file, so that whichever node's file an operator reads holds the token that works
on every node."""

from __future__ import annotations

import logging
from pathlib import Path

from mediacore.server.auth import TokenStore
from mediacore.server.clusterredis import ADMIN_TOKEN
from mediacore.server.config import TokenEntry
from mediacore.server.privatefiles import replace_private
from mediacore.server.sharedstate import StateChannel

log = logging.getLogger(__name__)


class AdminTokenAdoption:
    def __init__(self, channel: StateChannel, tokens: TokenStore, token_file: Path) -> None:
        """`token_file`: the admin token this node made (auth.ADMIN_TOKEN_FILE in its data dir);
        nothing is done when the node did not make one (its config names tokens)."""
        self._channel = channel
        self._tokens = tokens
        self._file = token_file
        self._token = token_file.read_text(encoding="utf-8").strip() if token_file.exists() else ""
        if self._token and self._token in tokens:
            channel.on_resync(self._adopt)

    async def _adopt(self) -> None:
        redis = self._channel.redis
        await redis.set(ADMIN_TOKEN, self._token, nx=True)
        shared = str(await redis.get(ADMIN_TOKEN) or "")
        if len(shared) < 16 or shared == self._token:  # tokens are at least 16 characters
            return
        self._tokens.replace(self._token, TokenEntry(shared, "admin", "admin"))
        self._token = shared
        try:
            replace_private(self._file, shared + "\n")
        except OSError as error:  # the token works all the same; only the file is stale
            log.warning(
                "the cluster's admin token could not be written to %s: %s", self._file, error
            )
            return
        log.info("this node adopted the cluster's admin token; it is in %s", self._file)
