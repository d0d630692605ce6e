"""/api/v1/walls: LED wall definitions (canvas, layout, outputs), their status, and the kiosk.

`PUT /walls/{wall}` takes the whole definition (API.md); a change of layout alone is applied
live. `GET` answers the definition plus `status` (frames painted, ticks missed, paint time, and
per output its state, frames sent, dropped and late), asked of the wall's video process, and
`status.process` (its pid, state and restarts). An rtp output's SDP is served for the
receiver; the kiosk page `/wall/{wall}` plays a whep output full screen on the wall PC.

Output URLs carry secrets (RTMP stream keys, SRT passphrases, query tokens): only admins read
them whole; others see them redacted, and a definition PUT back with an output's URL as it
was shown keeps that output's real URL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse

from ingest.netpolicy import AddressRefused, NetworkPolicy
from mediacore.redact import MASK, redact_url
from mediacore.server.auth import SECRETS, Principal
from mediacore.server.errors import ApiError
from mediacore.server.requests import bounded_body
from mediacore.server.security import permission
from mediacore.server.walls import OUTPUT_FAILED, WallService, is_wall_name
from mixer.layout import LayoutError

MAX_WALL_BYTES = 256 * 1024
WallName = Annotated[str, Path(max_length=64)]
OUTPUT_REFUSED = "the output's address is not in the networks this server may connect to"
Reader = Annotated[Principal, Depends(permission("rooms:read"))]
Writer = Annotated[Principal, Depends(permission("walls:write"))]


def build_walls_router(
    walls: WallService, kiosk_page: FilePath, outbound: NetworkPolicy | None = None
) -> APIRouter:
    """`outbound`: where outputs may push to (None: anywhere)."""
    router = APIRouter(tags=["walls"])
    reader = Depends(permission("rooms:read"))
    writer = Depends(permission("walls:write"))

    def known(wall: str) -> str:
        if wall not in walls.names():
            raise ApiError(404, "wall-not-found", f"no wall {wall!r}")
        return wall

    @router.get("/api/v1/walls")
    async def list_walls(principal: Reader) -> list[dict[str, Any]]:
        """Every wall with its definition and status."""
        found = await asyncio.gather(*(walls.describe(name) for name in walls.names()))
        return [shown(description, principal) for description in found]

    @router.get("/api/v1/walls/{wall}")
    async def get_wall(wall: WallName, principal: Reader) -> dict[str, Any]:
        """The wall's definition as last PUT, plus `status`."""
        return shown(await walls.describe(known(wall)), principal)

    @router.put("/api/v1/walls/{wall}")
    async def put_wall(
        wall: WallName, request: Request, response: Response, principal: Writer
    ) -> dict[str, Any]:
        """Define or change a wall: `{"canvas": {"width", "height", "fps"}, "layout": {...},
        "outputs": [...], "room": …}`. 201 when new, 200 when changed; 400 with the field at
        fault for a definition that cannot be shown (unknown layout, region outside the canvas,
        bad output url)."""
        if not is_wall_name(wall):
            raise ApiError(400, "bad-wall-name", "a wall name is 1-32 of a-z, 0-9, '-' and '_'")
        body = await bounded_body(request, MAX_WALL_BYTES)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested past the stack
            raise ApiError(400, "bad-json", "the body is not JSON") from None
        data = with_kept_secrets(data, walls.definition(wall))
        if outbound is not None:
            await _check_outputs(outbound, data, principal)
        try:
            created = await walls.put(wall, data)
        except LayoutError as error:
            raise ApiError(400, "bad-wall", str(error)) from None
        response.status_code = 201 if created else 200
        return shown(await walls.describe(wall), principal)

    @router.delete("/api/v1/walls/{wall}", status_code=204, dependencies=[writer])
    async def delete_wall(wall: WallName) -> Response:
        await walls.delete(known(wall))
        return Response(status_code=204)

    @router.get(
        "/api/v1/walls/{wall}/outputs/{index}.sdp",
        dependencies=[reader],
        response_class=Response,
    )
    async def output_sdp(wall: WallName, index: int) -> Response:
        """The SDP a receiver (ffplay, VLC, an LED controller) opens for an rtp output."""
        try:
            text = walls.sdp(known(wall), index)
        except KeyError:
            raise ApiError(
                404, "output-not-found", f"wall {wall!r} has no rtp output {index}"
            ) from None
        return Response(text, media_type="application/sdp")

    @router.get("/wall/{wall}", response_class=FileResponse, include_in_schema=False)
    async def kiosk(wall: WallName) -> FileResponse:
        """The full-screen player for the wall PC: `/wall/{wall}?token=…[&output=n]`."""
        return FileResponse(kiosk_page, media_type="text/html")

    return router


def shown(description: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """A wall's description as `principal` may read it: but for admins, output URLs redacted
    and the outputs' failure reasons told without the network's words (which would make
    outputs a port scanner)."""
    if principal.may(SECRETS):
        return description
    status = description.get("status")
    if isinstance(status, dict) and isinstance(status.get("outputs"), list):
        outputs = [
            {**o, "reason": OUTPUT_FAILED} if isinstance(o, dict) and o.get("reason") else o
            for o in status["outputs"]
        ]
        status = {**status, "outputs": outputs}
    outputs = [_redacted(o) for o in description.get("outputs", [])]
    return {**description, "outputs": outputs, "status": status}


def with_kept_secrets(data: Any, before: dict[str, Any] | None) -> Any:
    """`data` (a PUT body) with every output URL that is the redacted form of one of the
    wall's current output URLs put back to that URL."""
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if before is None or not isinstance(outputs, list):
        return data
    real = {
        redact_url(url): url
        for output in before.get("outputs", [])
        if isinstance(output, dict) and isinstance(url := output.get("url"), str)
    }
    kept = [
        {**o, "url": real[o["url"]]}
        if isinstance(o, dict) and isinstance(o.get("url"), str) and MASK in o["url"]
        and o["url"] in real
        else o
        for o in outputs
    ]  # fmt: skip
    return {**data, "outputs": kept}


async def _check_outputs(outbound: NetworkPolicy, data: Any, principal: Principal) -> None:
    """Raises ApiError 403 when an output would push to a refused address (an unresolvable
    host is left to the output, which keeps trying)."""
    outputs = data.get("outputs") if isinstance(data, dict) else None
    for output in outputs if isinstance(outputs, list) else []:
        url = output.get("url") if isinstance(output, dict) else None
        if not isinstance(url, str) or "://" not in url:
            continue
        try:
            await outbound.check_url(url)
        except AddressRefused as error:
            detail = str(error) if principal.may(SECRETS) else OUTPUT_REFUSED
            raise ApiError(403, "output-refused", detail) from None
        except OSError:
            pass


def _redacted(output: Any) -> Any:
    if isinstance(output, dict) and isinstance(output.get("url"), str):
        return {**output, "url": redact_url(output["url"])}
    return output
