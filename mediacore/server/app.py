"""The assembly: one MediaServer (rooms, events, tokens, metrics) behind a FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from ingest.gbcamera import GbCameraControl
from ingest.gbcascade import GbCascade
from ingest.gbdownload import GbDownloads
from ingest.gbreader import SCHEME as GB28181
from ingest.gbreader import GbReaderFactory
from ingest.gbrosterposition import position_fields
from ingest.service import IngestService
from mediacore.events import EventBus
from mediacore.legvideo import LegVideo
from mediacore.room import RoomSettings
from mediacore.server.accounts import Accounts
from mediacore.server.alarms import Alarms
from mediacore.server.announcefiles import MAX_FILE_BYTES, AnnouncementFiles
from mediacore.server.announcementlegs import AnnouncementLegs, clips_directory
from mediacore.server.announcements import Announcements, Join
from mediacore.server.api_accounts import build_accounts_router
from mediacore.server.api_alarms import build_alarms_router
from mediacore.server.api_announcements import FILES_PATH, build_announcements_router
from mediacore.server.api_audit import build_audit_router
from mediacore.server.api_broadcasts import build_broadcasts_router
from mediacore.server.api_calls import build_calls_router
from mediacore.server.api_content import build_content_router
from mediacore.server.api_events import build_events_router
from mediacore.server.api_floor import build_floor_router
from mediacore.server.api_gb28181 import build_gb28181_router
from mediacore.server.api_gbmap import build_gb_map_router
from mediacore.server.api_gbptz import build_gbptz_router
from mediacore.server.api_gbrecords import build_gb_records_router
from mediacore.server.api_gbrecordspanel import build_gb_records_panel_router
from mediacore.server.api_gbtalkback import build_gb_talkback_router
from mediacore.server.api_gbupstreams import build_gb_upstreams_router
from mediacore.server.api_groups import build_groups_router
from mediacore.server.api_joinlinks import build_join_links_router
from mediacore.server.api_login import build_login_router
from mediacore.server.api_messages import build_messages_router
from mediacore.server.api_move import build_move_router
from mediacore.server.api_nodes import build_nodes_router, single_node
from mediacore.server.api_pages import build_pages_router
from mediacore.server.api_parking import build_parking_router
from mediacore.server.api_recordings import build_recordings_router
from mediacore.server.api_rollcall import build_rollcall_router
from mediacore.server.api_rooms import build_rooms_router
from mediacore.server.api_shards import build_shards_router
from mediacore.server.api_sip import build_sip_router
from mediacore.server.api_sources import build_sources_router
from mediacore.server.api_transfer import build_transfer_router
from mediacore.server.api_walls import build_walls_router
from mediacore.server.api_webrtc import build_webrtc_router
from mediacore.server.api_whispers import build_whispers_router
from mediacore.server.api_workers import build_workers_router
from mediacore.server.auditlog import AuditLog
from mediacore.server.audittrail import AuditTrail
from mediacore.server.auth import TokenStore, build_token_store
from mediacore.server.broadcasts import Broadcasts
from mediacore.server.callroom import RemoteLegs, RemotePinEntry
from mediacore.server.callstanding import CallStanding
from mediacore.server.children import ChildProcess
from mediacore.server.clips import ClipCache
from mediacore.server.cluster import Cluster
from mediacore.server.clusterbodies import ClusterBodies
from mediacore.server.clusterforward import ClusterForwarder
from mediacore.server.clusterparties import ClusterParties
from mediacore.server.clusterrecordingapi import ClusterRecordingRoutes
from mediacore.server.clusterrecordings import RecordingPlaces
from mediacore.server.clusterredis import connect
from mediacore.server.clustershards import ClusterShards
from mediacore.server.clusterstore import SharedStore
from mediacore.server.conferencemetrics import ConferenceCollector
from mediacore.server.conferences import ConferenceService
from mediacore.server.config import Config, outbound_networks
from mediacore.server.directory import RoomDirectory, RoomExists
from mediacore.server.errors import install_error_handlers
from mediacore.server.gbpictures import WallPictures
from mediacore.server.gbroompictures import ConferencePictures
from mediacore.server.groupdials import GroupDials
from mediacore.server.groups import Groups
from mediacore.server.guard import RequestGuard
from mediacore.server.guestshards import GuestShards
from mediacore.server.holds import Holds
from mediacore.server.legpictures import leg_composer
from mediacore.server.linklegs import LinkLegs
from mediacore.server.logins import Logins
from mediacore.server.loginthrottle import LoginThrottle
from mediacore.server.messagehistory import MessageHistory
from mediacore.server.messages import Messages
from mediacore.server.metrics import MediaMetrics
from mediacore.server.nodefailure import NodeFailure
from mediacore.server.parking import Parking
from mediacore.server.parties import PartyBook
from mediacore.server.privatecalldial import private_calls
from mediacore.server.reachmetrics import ReachCollector
from mediacore.server.recordcomposite import RecordingComposite, local_finder
from mediacore.server.recordvideo import RecordingVideo
from mediacore.server.remotepeers import RemotePeers
from mediacore.server.remotepull import RemotePulls
from mediacore.server.remotesources import RemoteSources
from mediacore.server.remotevideo import RemoteVideo
from mediacore.server.rollcalls import RollCallService
from mediacore.server.roomcontent import RoomContent
from mediacore.server.rooms import LocalRooms, Rooms
from mediacore.server.roomscenes import RoomScenes
from mediacore.server.roomtours import RoomTours
from mediacore.server.security import permission
from mediacore.server.sessions import SessionStore
from mediacore.server.shardedrecordings import ShardedRecordingSite
from mediacore.server.shardedrooms import ShardedRooms
from mediacore.server.shardnodes import ShardNodes
from mediacore.server.sharedcluster import SharedState
from mediacore.server.sharedgate import SharedStateGate
from mediacore.server.sipservice import SipService
from mediacore.server.sources import LocalSources, Sources
from mediacore.server.speech import Speech
from mediacore.server.transcodes import TranscodeService
from mediacore.server.twinviews import TwinViews
from mediacore.server.walls import WallService
from mediacore.server.workers import WorkerPool
from mediacore.signing import SigningKey
from mediacore.videohub import VideoHub
from mediacore.videostream import LocalVideoPlace
from mixer.contentlayout import ContentRule
from recorder.diskreserve import DiskReserve
from recorder.exportjobs import ExportJobs
from recorder.service import RecorderService
from recorder.shelf import RecorderShelf
from recorder.site import LocalSite, RecordingSite
from sip.transport import SipTls
from webrtc.peerroom import LocalPeerRoom, PeerRoom, Peers
from webrtc.service import WebRtcService

log = logging.getLogger(__name__)

VERSION = "0.1.0"
VIDEO_WORKER = "mediacore.server.videoworker"
OPENAPI = "/api/openapi.json"
STATIC = Path(__file__).parent / "static"


class MediaServer:
    def __init__(
        self, config: Config, tokens: TokenStore | None = None, sip_tls: SipTls | None = None
    ) -> None:
        """`sip_tls`: SIP over TLS on `[sip] tls_port` (mediacore.server.transportsecurity);
        None listens on UDP and TCP only."""
        self.config = config
        self.bus = EventBus()
        self.tokens = tokens if tokens is not None else build_token_store(config)
        if self.tokens.sessions is None:
            self.tokens.sessions = SessionStore(config.auth.session_minutes)
        # in a cluster: one client of its Redis for all this node's parts (closed at stop)
        self.redis = connect(config.cluster) if config.cluster.enabled else None
        # in a cluster: accounts, sessions, join links and the admin token kept in its Redis
        self.shared = None if self.redis is None else SharedState(config, self.tokens, self.redis)
        # user names and passwords: [[sip.users]] and those admins add (accounts.json)
        shared_accounts = self.shared.accounts if self.shared is not None else None
        self.accounts = Accounts(config.data_dir, config.sip.users, shared_accounts)
        throttle = LoginThrottle(config.auth.login_attempts, config.auth.login_window)
        self.logins = Logins(self.accounts, self.tokens.sessions, throttle, self.bus)
        self.directory = RoomDirectory(config, self.bus)
        self.pool: WorkerPool | None = None
        self.local_rooms = LocalRooms(self.directory)  # rooms of this process
        self.rooms: Rooms = self.local_rooms
        self.sharded: ShardedRooms | None = None
        if config.server.workers:  # rooms run in media worker processes
            self.pool = WorkerPool(config, config.server.workers)
            self.sharded = ShardedRooms(self.pool, self.bus, config.server.max_legs_per_shard)
            self.rooms = self.sharded
            self.directory.placed_elsewhere = self.sharded.rooms.__contains__
            self.sip = SipService(
                config,
                self.directory,
                self.bus,
                rooms=self.sharded.call_room,
                legs=RemoteLegs(self.sharded),
                tls=sip_tls,
                redis=self.redis,
            )
            self.sip.agent.pin_entries = RemotePinEntry
        else:
            self.sip = SipService(config, self.directory, self.bus, tls=sip_tls, redis=self.redis)
        self.broadcasts = Broadcasts(self.rooms, self.bus)
        # plans: groups dialled into a room at once, through the dialer above
        book = self.parties = PartyBook.of(config.sip, config.radio_gateways)
        self.groups = Groups(config.data_dir, config.dispatch_groups, book)
        self.group_dials = GroupDials(
            self.groups, book, self.sip.dialer, self.sip.agent.rooms, self.bus
        )
        self.metrics = MediaMetrics(self.directory, self.sip.statistics)
        if self.pool is not None and self.sharded is not None:
            self.metrics.remote_rooms = self.sharded.snapshots
            self.metrics.workers = self.pool.describe
        # Recordings are written where their room runs: here, or in its home shard's worker.
        site: RecordingSite = LocalSite(self.directory.rooms.get)
        if self.sharded is not None:
            site = ShardedRecordingSite(self.sharded)
        # One key signs manifests, the recordings' ledger and the audit log; only this
        # process reads it (workers seal, control signs: recorder/service.py says why).
        self.signing_key = SigningKey.load_or_create(config.signing_key_path)
        # In a cluster recording ids carry the node's name; with [recording] shared_dir the
        # recordings go to this node's folder of the shared store (clusterstore.py).
        node = config.cluster.node_name if config.cluster.enabled else None
        self.recorder = RecorderService(
            config.data_dir, self.bus, site, self.signing_key,
            store=config.recordings_store, node=node,
        )  # fmt: skip
        self.shelf = RecorderShelf(self.recorder)  # and the recordings taken over from others
        self.audit = AuditLog(config.data_dir, self.signing_key)
        self.exports = ExportJobs(
            config.data_dir / "exports",
            self.recorder.reader,
            max_per_owner=config.server.max_exports_per_address,
            reserve=DiskReserve(
                config.recording.export_disk_reserve_mb * 1_000_000,
                lambda: bool(self.recorder.active),
            ),
            node=node,
        )
        self.webrtc = WebRtcService(config.webrtc)
        self.webrtc.video_hub = VideoHub()  # video is forwarded as received, never re-encoded
        # SIP and plain RTP legs with m=video (in this process when it runs the rooms)
        place = LocalVideoPlace(self.webrtc.video_hub)
        self.directory.legs.video = LegVideo(self.directory.ports, place, self.directory.legs.clock)
        self.peers = Peers()  # every WebRTC peer of the server, wherever its media runs
        self.bus.listen(self.peers.follow)  # a moved peer is its new room's
        # what each join link created: it all leaves when the link is revoked or expires
        self.link_legs = LinkLegs(self.rooms, self.peers, self.bus, self.tokens.links)
        self.remote_peers: RemotePeers | None = None
        if self.sharded is not None:  # their connections run in the rooms' workers
            self.remote_peers = RemotePeers(
                self.sharded, self.peers, config.webrtc, self.bus, self.webrtc.video_hub
            )
            RemoteVideo(self.webrtc.video_hub, self.sharded)  # workers' video joins this hub
        # Where API users may make the server connect: field sources, wall outputs.
        self.outbound = outbound_networks(config.outbound)
        # field cameras pulled into rooms
        self.ingest = IngestService(self.webrtc.video_hub, networks=self.outbound)
        self.remote_sources: RemoteSources | None = None
        self.sources: Sources = LocalSources(self.local_rooms, self.ingest)
        if self.sharded is not None:  # cameras pulled here, their sound mixed in the workers
            self.remote_sources = RemoteSources(self.sharded, self.ingest, self.bus)
            self.sources = self.remote_sources
        # recordings take every video source of their room, remuxed
        self.recording_video = RecordingVideo(self.recorder, self.webrtc.video_hub, self.bus)
        self.gb_downloads: GbDownloads | None = None  # devices' recordings kept as files
        if self.sip.gb is not None:  # gb28181:// sources: channels of registered 国标 devices
            ports = (config.rtp.port_min, config.rtp.port_max)
            readers = GbReaderFactory(
                self.sip.gb, config.server.host, ports, networks=self.outbound
            )
            self.ingest.readers[GB28181] = readers
            self.ingest.fields[GB28181] = position_fields(self.sip.gb.subscriber.channel_position)
            self.gb_downloads = GbDownloads(
                readers, config.data_dir / "gb28181" / "downloads", self.bus
            )

        # FFmpeg work runs in video processes below the audio's priority: the pullers in one,
        # each wall in its own; both are started when first needed.
        def video_process(name: str) -> ChildProcess:
            level, style = config.server.log_level, config.server.log_format
            return ChildProcess(name, VIDEO_WORKER, log_level=level, log_format=style)

        self.pulls = RemotePulls(video_process("video-sources"))
        self.ingest.pullers = self.pulls.factory
        self.walls = WallService(
            config.data_dir, RoomScenes(self.bus), self.webrtc.video_hub, self.bus, video_process
        )
        self.metrics.walls = self.walls.statistics
        # every room's composed picture, each in a video process of its own once watched
        self.conferences = ConferenceService(self.webrtc.video_hub, self.bus, video_process)
        self.metrics.registry.register(ConferenceCollector(self.conferences.statistics))
        place.composer = leg_composer(self.conferences.composed)  # legs here see it too
        if self.sharded is not None:  # legs in the workers ask for composed pictures too
            self.conferences.serve_workers(self.sharded.pool.workers)
        # H.264 twins of H.265 sources (`<source>~h264`), made when first asked for
        self.transcodes = TranscodeService(self.webrtc.video_hub, video_process)
        self.webrtc.video_hub.resolver = self.transcodes.resolve
        # each browser watching a twin, at the tier its own link allows
        self.twin_views = TwinViews(self.webrtc.video_hub, self.transcodes)
        self.metrics.registry.register(
            ReachCollector(self.conferences.statistics, self.transcodes.statistics)
        )
        # recordings take the composed picture with the mix too (a viewer while they record)
        self.recording_composite = RecordingComposite(
            self.recorder,
            self.webrtc.video_hub,
            local_finder(self.conferences.composed, self.webrtc.video_hub),
        )
        # each room's shared content (双流): the composed picture's large region
        self.content = RoomContent(self.bus, self.webrtc.video_hub)
        if isinstance(site, ShardedRecordingSite):  # recorded in the workers: their timeline
            self.content.timeline = site.note
        self.cascade: GbCascade | None = None  # 级联: registered to upper 国标 platforms
        if self.sip.gb is not None and config.gb28181_upstreams:
            self.cascade = GbCascade(
                config.gb28181_upstreams,
                self.sip.gb,
                self.bus,
                pictures=WallPictures(self.walls, self.webrtc.video_hub),
                rooms=ConferencePictures(self.rooms, self.conferences, self.webrtc.video_hub),
                bind_host=config.server.host,
                ports=(config.rtp.port_min, config.rtp.port_max),
                media_address=config.rtp.public_address,
            )
            self.sip.add_upper_platforms(self.cascade)
        self.announcements = self._announcements(config)
        # tours (轮巡) and roll calls (点名): rules of every room's composed picture
        self.tours = RoomTours(self.bus)
        self.rollcalls = RollCallService(self.rooms, self.announcements, self.bus)
        self.conferences.rules += [self.tours, self.rollcalls]
        # content sharing (双流) last: the content wins the large region
        self.conferences.rules.append(ContentRule(self.content.shown))
        clips = ClipCache(clips_directory(config.data_dir))
        self.holds = Holds(self.rooms, self.sip.agent, clips, config.sip.hold_music)
        self.parking = Parking(self.rooms, self.holds, self.bus)
        self.private_calls = private_calls(self.rooms, self.bus, self.sip, book)  # 单呼
        # emergency alarms, raised from the floor's events wherever the rooms run
        self.alarms = Alarms(config.data_dir, self.bus, self.rooms.roster)
        if isinstance(site, ShardedRecordingSite):  # published here, recorded in the workers
            self.alarms.timeline = site.note
        # texts (SIP MESSAGE) to and from phones; their rooms' events are recorded like alarms'
        timeline = site.note if isinstance(site, ShardedRecordingSite) else None
        self.messages = Messages(MessageHistory(config.data_dir), self.bus, timeline)
        self.messages.pager = self.sip.texts(self.messages)
        self.ready = False
        self.directory.tick_observers.append(self.metrics.observe_tick)
        # [cluster]: nodes, the room directory, forwarding, events of every node (cluster.py)
        self.cluster: Cluster | None = None
        if self.redis is not None:
            self.cluster = Cluster(
                config, self.rooms, self.bus, self.counts, self.settings_of, self.redis
            )
        # [cluster]: a room's shards on several nodes (remoteshard.py, shardnodes.py)
        self.shard_nodes: ShardNodes | None = None
        self.guest_shards: GuestShards | None = None
        if self.cluster is not None and self.sharded is not None:
            self.shard_nodes = ShardNodes(self.cluster, config.cluster.max_legs_per_node)
            self.sharded.nodes = self.shard_nodes
            self.guest_shards = GuestShards(self.sharded)  # other nodes' rooms' shards here
            # 单呼 between participants of two nodes: found there, moved in by their room's owner
            self.private_calls.elsewhere = ClusterParties(self.shard_nodes)
        # [cluster]: calls, gateways and recordings outlive a dead node (nodefailure.py)
        self.failure: NodeFailure | None = None
        if self.cluster is not None and self.redis is not None:
            self.failure = NodeFailure(
                config, self.cluster.node, self.redis, self.sip, self.bus, self.rooms.names,
                CallStanding(self.bus, self.rooms),
            )  # fmt: skip
        # [cluster] with [recording] shared_dir: a dead node's recordings served by a survivor
        self.store: SharedStore | None = None
        if self.cluster is not None and self.redis is not None and config.recording.shared_dir:
            self.store = SharedStore(
                self.cluster.node, self.redis, self.shelf, self.bus,
                Path(config.recording.shared_dir), self._taken_over, config.cluster.dead_after_ms,
            )  # fmt: skip

    def _taken_over(self, node: str) -> RecorderService:
        """A recorder serving the recordings of `node` (dead) from the shared store, its index
        made afresh from their manifests (one left from an earlier take-over may be stale)."""
        index = self.config.data_dir / "taken-over" / f"{node}.db"
        for suffix in ("", "-wal", "-shm"):
            index.with_name(index.name + suffix).unlink(missing_ok=True)
        return RecorderService(
            self.config.data_dir, self.bus, LocalSite(lambda room: None), self.signing_key,
            store=Path(self.config.recording.shared_dir) / node, index=index, node=node,
        )  # fmt: skip

    def settings_of(self, room: str) -> RoomSettings | None:
        """An open room's settings (its PIN too), or None."""
        if self.sharded is not None:
            placed = self.sharded.rooms.get(room)
            return None if placed is None else placed.settings
        found = self.directory.rooms.get(room)
        return None if found is None else found.settings

    def counts(self) -> tuple[int, int]:
        """The rooms open on this node, and the legs in them (with media workers: the legs its
        workers hold, of its rooms and of its shards of other nodes' rooms)."""
        names = self.rooms.names()
        if self.sharded is not None:
            return len(names), self.sharded.local_legs()
        return len(names), sum(len(room.participants) for room in self.directory.rooms.values())

    def _announcements(self, config: Config) -> Announcements:
        """Files and speech played into rooms: joined here, or in the room's worker."""
        clips = clips_directory(config.data_dir)
        join: Join
        if self.sharded is not None:
            sharded = self.sharded

            async def join(room: str, data: dict[str, Any]) -> dict[str, Any]:
                _, answer = await sharded.add_leg(room, "announcement.join", **data)
                return dict(answer["participant"])

        else:
            legs = AnnouncementLegs(self.local_rooms, clips)

            async def join(room: str, data: dict[str, Any]) -> dict[str, Any]:
                return dict((await legs.join({"room": room, **data}))["participant"])

        home = config.data_dir / "announcements"
        return Announcements(
            self.rooms,
            join,
            self.bus,
            AnnouncementFiles(home / "files"),
            Speech(home / "speech"),
            ClipCache(clips),
        )

    def peer_room(self, name: str) -> PeerRoom | None:
        """The open room `name` as a WebRTC peer joins it."""
        if self.remote_peers is not None:
            return self.remote_peers.room(name)
        room = self.directory.rooms.get(name)
        if room is None:
            return None
        return LocalPeerRoom(self.webrtc, room, self.peers, self.bus)

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        if self.shared is not None:
            await self.shared.start()
        rooms = list(self.config.rooms)
        if self.cluster is not None:  # not the config rooms another live node has
            rooms = await self.cluster.start(self.config.rooms)
        if self.sharded is not None:
            await self.sharded.start()
        for settings in rooms:
            # In a cluster, a heartbeat may have reopened a room of this node from the
            # definition it left in the directory already.
            with contextlib.suppress(RoomExists):
                await self.rooms.open(settings)
        if self.store is not None:  # a survivor that took this node's recordings gives them back
            await self.store.claim_own()
        await self.recorder.start()
        await self.recorder.start_configured(self.rooms.names())
        if self.store is not None:
            self.store.follow()
        await self.recording_video.start()
        await self.sip.start()
        if self.failure is not None:
            await self.failure.start(self.recorder.recovered)
        await self.walls.start()
        await self.conferences.start()
        await self.recording_composite.start()
        await self.transcodes.start()
        await self.twin_views.start()
        if self.cascade is not None:
            self.cascade.start()
        self.link_legs.start()
        # Long-lived start-up objects leave the collector's generations: full collections then
        # scan only media-path garbage and stay short, instead of pausing every room's clock.
        gc.collect()
        gc.freeze()
        # Worker threads (metrics rendering) must hand the GIL back to the media loop quickly.
        sys.setswitchinterval(0.001)
        self.ready = True
        log.info("mediacore ready", extra={"rooms": len(self.directory.rooms)})

    async def stop(self) -> None:
        self.ready = False
        if self.failure is not None:  # its calls end with it; its gateways and trunks go now
            await self.failure.stop()
        if self.store is not None:  # the others' recordings go back; its own are held
            await self.store.stop()
        if self.cluster is not None:  # first: the others take this node's rooms over now
            await self.cluster.stop()
        await self.link_legs.stop()
        await self.private_calls.stop()
        await self.group_dials.stop()  # calls still ringing are CANCELled
        # First: recordings end sealed, with the room still whole (in workers too: they are
        # stopped below, after their recordings).
        await self.recorder.stop()
        if self.store is not None:  # sealed: a survivor may serve them now
            await self.store.release_own()
        await self.recording_video.stop()  # the taps of the video tracks just finished
        await self.recording_composite.stop()
        if self.cascade is not None:
            await self.cascade.stop()  # BYE to upper platforms still playing, unregister
        await self.walls.stop()  # before the rooms: their sources end, the walls would show slates
        await self.conferences.stop()
        await self.twin_views.stop()
        await self.transcodes.stop()
        self.tours.stop()
        await self.rollcalls.stop()
        await self.directory.stop()
        if self.sharded is not None:
            await self.sharded.stop()
        if self.shard_nodes is not None:
            await self.shard_nodes.stop()
        if self.remote_sources is not None:
            await self.remote_sources.stop()
        await self.ingest.stop()  # sources whose room did not close them
        if self.gb_downloads is not None:
            self.gb_downloads.stop()
        await self.pulls.stop()  # their video process
        await self.webrtc.stop()  # peers that were not in a room yet
        await self.sip.stop()
        self.alarms.close()
        self.messages.history.close()
        self.audit.close()
        if self.shared is not None:
            await self.shared.stop()
        if self.redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.redis.aclose()
        log.info("mediacore stopped")


def create_app(server: MediaServer) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    # The OpenAPI page lists every route: off unless [server] api_docs, and then for token
    # holders only (the guard asks a token of everything under /api/).
    docs = server.config.server.api_docs
    app = FastAPI(
        title="mediacore",
        version=VERSION,
        description="Real-time media server for emergency command centres.",
        docs_url=None,
        openapi_url=OPENAPI if docs else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.server = server
    app.state.tokens = server.tokens
    install_error_handlers(app)
    limits = server.config.server
    if server.cluster is not None:  # inside the guard: callers are known, bodies bounded
        app.add_middleware(
            ClusterForwarder,
            node=server.cluster.node,
            directory=server.cluster.directory,
            secret=lambda: server.cluster.secret if server.cluster is not None else None,
            # open here: its own rooms and its shards of other nodes' rooms (their new legs)
            local=server.sharded.open_here if server.sharded is not None else server.rooms.names,
            client=server.cluster.client,
            tls=server.cluster.tls,
        )
        app.add_middleware(
            ClusterBodies,
            cluster=server.cluster,
            tokens=server.tokens,
            local=server.rooms.names,
            locate=server.rooms.locate,
        )
        places = RecordingPlaces(server.cluster.node, server.cluster.redis, server.shelf.holds)
        app.add_middleware(
            ClusterRecordingRoutes, cluster=server.cluster, tokens=server.tokens, places=places
        )
    app.add_middleware(
        RequestGuard,
        tokens=server.tokens,
        max_body=limits.max_body_bytes,
        max_websockets=limits.max_websockets_per_address,
        body_limits={FILES_PATH: MAX_FILE_BYTES},
    )
    # Added last, so it runs first: what the guard refuses (401, 413) is audited too.
    app.add_middleware(AuditTrail, audit=server.audit, tokens=server.tokens)
    if server.shared is not None:  # before any token check: sessions opened on other nodes
        app.add_middleware(SharedStateGate, tokens=server.tokens, channel=server.shared.channel)
    if server.cluster is not None:  # the nodes' own routes: a node mark, not a user's token
        cluster, sharded, guests = server.cluster, server.sharded, server.guest_shards
        app.add_middleware(
            ClusterShards,
            secret=lambda: cluster.secret,
            clock=cluster.node.clock,
            serve=lambda: guests.serve if guests is not None else None,
            heard=lambda: sharded.heard_from_guest if sharded is not None else None,
            find=lambda: server.private_calls.whereabouts,
            max_body=limits.max_body_bytes,
        )

    if docs:

        @app.get("/api/docs", include_in_schema=False)
        async def docs_page(request: Request) -> HTMLResponse:
            """Swagger UI; a browser opens it as /api/docs?token=..., which it passes on to
            the OpenAPI document it fetches."""
            token = request.query_params.get("token", "")
            spec = f"{OPENAPI}?{urlencode({'token': token})}" if token else OPENAPI
            return get_swagger_ui_html(openapi_url=spec, title="mediacore API")

    @app.get("/api/v1/health", tags=["server"])
    async def health(response: Response) -> dict[str, str]:
        if not server.ready:
            response.status_code = 503
            return {"status": "starting"}
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["server"],
        response_class=Response,
        dependencies=[Depends(permission("metrics:read"))],
    )
    async def metrics() -> Response:
        """Prometheus text; needs a bearer token with metrics:read (`[server] metrics_token`,
        or an admin's)."""
        snapshot = await server.metrics.snapshot()
        text = await asyncio.to_thread(server.metrics.render, snapshot)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    app.include_router(
        build_rooms_router(
            server.rooms,
            server.config,
            server.link_legs,
            lambda room: {
                **server.private_calls.room_fields(room),
                **server.conferences.room_fields(room),
                **server.content.room_fields(room),
            },
            server.sharded.takes_legs if server.sharded is not None else None,
        )
    )
    app.include_router(
        build_shards_router(server.sharded.grow_on_node if server.sharded is not None else None)
    )
    app.include_router(build_floor_router(server.rooms, server.peers.owner_of))
    app.include_router(build_rollcall_router(server.rollcalls))
    app.include_router(build_workers_router(server.pool))
    nodes = single_node(server.config.cluster.node_name, server.config.server.host, server.counts)
    app.include_router(
        build_nodes_router(nodes)
        if server.cluster is None
        else build_nodes_router(server.cluster.nodes, server.cluster.drain)
    )
    app.include_router(
        build_sources_router(server.sources, server.link_legs, server.twin_views.fields)
    )
    app.include_router(build_gb28181_router(server.sip.gb))
    camera = GbCameraControl(server.sip.gb) if server.sip.gb is not None else None
    app.include_router(build_gbptz_router(camera, server.bus, STATIC / "camerapad.js"))
    app.include_router(build_gb_upstreams_router(server.cascade))
    app.include_router(build_gb_talkback_router(server.sip.gb_talkbacks))
    app.include_router(build_gb_map_router(STATIC / "gbmap.js"))
    app.include_router(build_gb_records_panel_router(STATIC / "gbrecords.js"))
    app.include_router(
        build_gb_records_router(server.sip.gb, server.sources, server.gb_downloads, server.bus)
    )
    app.include_router(build_join_links_router(server.directory, server.tokens, server.link_legs))
    app.include_router(
        build_recordings_router(
            server.directory, server.recorder, server.exports, server.audit, server.shelf
        )
    )
    app.include_router(build_audit_router(server.audit))
    app.include_router(build_login_router(server.logins))
    app.include_router(build_accounts_router(server.accounts, server.logins.sessions))
    app.include_router(build_announcements_router(server.announcements, server.link_legs))
    app.include_router(
        build_transfer_router(
            server.rooms, server.holds, server.sip.transfers, server.sip.agent, server.parties
        )
    )
    app.include_router(build_messages_router(server.messages))
    app.include_router(build_move_router(server.rooms))
    app.include_router(build_calls_router(server.private_calls))
    app.include_router(build_walls_router(server.walls, STATIC / "wall.html", server.outbound))
    app.include_router(build_alarms_router(server.alarms, STATIC / "alarms.js"))
    app.include_router(build_whispers_router(server.rooms))
    app.include_router(build_broadcasts_router(server.broadcasts))
    app.include_router(build_pages_router(STATIC))
    app.include_router(build_parking_router(server.parking))

    @app.get("/review", tags=["recordings"], response_class=FileResponse)
    async def review_page() -> FileResponse:
        """The reviewers' page: search, timeline, waveform, playback, download, verify."""
        return FileResponse(STATIC / "review.html", media_type="text/html")

    app.include_router(
        build_sip_router(server.directory, server.sip, server.link_legs, server.group_dials)
    )
    app.include_router(build_groups_router(server.group_dials))
    app.include_router(
        build_webrtc_router(
            server.peer_room,
            server.peers,
            server.config.webrtc,
            server.tokens,
            server.config,
            server.link_legs,
            server.conferences.composed,
            server.twin_views.playable,
            server.content,
        )
    )
    app.include_router(
        build_content_router(
            server.content, lambda name: name in server.rooms.names(), STATIC / "contentshare.js"
        )
    )
    room_exists = lambda name: name in server.rooms.names()  # noqa: E731
    if server.cluster is not None:  # every room of the cluster streams here
        room_exists = server.cluster.room_exists
    app.include_router(build_events_router(server.bus, server.tokens, room_exists))
    return app
