"""The `mediacore` command."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from mediacore.server import cliaudit, clirecordings, cliview
from mediacore.server.config import Config, ConfigError, load_config, validate_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediacore", description="mediacore media server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--config", help="TOML configuration file")
    serve.add_argument("--data-dir", help="data directory (default ./var)")
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 8080)")
    serve.add_argument("--sip-port", type=int, help="SIP port (default 5060)")
    serve.add_argument("--sip-tls-port", type=int, help="SIP over TLS port (default 5061, 0: off)")
    serve.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve plain HTTP and WS instead of HTTPS and WSS (a lab only)",
    )
    serve.add_argument("--rtp-ports", help="RTP port range LO-HI (default 20000-29999)")
    serve.add_argument("--log-level", help="debug, info, warning, error")
    serve.add_argument(
        "--workers",
        type=int,
        help="media worker processes for the rooms (0: rooms in the control process)",
    )
    serve.add_argument("--cluster", help="join a cluster: redis://HOST:PORT/DB (the directory)")
    serve.add_argument("--node", help="this node's name in the cluster (default: host name)")
    serve.add_argument("--advertise", help="the address other nodes reach this node at")
    commands.add_parser("version", help="print the version")
    for name, text in (("calls", "SIP calls in progress"), ("registrations", "SIP registrations")):
        view = commands.add_parser(name, help=f"show a running server's {text}")
        cliview.add_connection_options(view)
    clirecordings.add_parser(commands)
    cliaudit.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command in ("calls", "registrations"):
        return _view(args)
    if args.command == "recordings":
        return clirecordings.run(args)
    if args.command == "audit":
        return cliaudit.run(args)
    if args.command == "version":
        from mediacore.server.app import VERSION

        print(VERSION)
        return 0
    try:
        config = _apply_options(load_config(args.config), args)
    except ConfigError as error:
        print(f"mediacore: {error}", file=sys.stderr)
        return 2
    return _serve(config)


def _view(args: argparse.Namespace) -> int:
    show = cliview.calls_view if args.command == "calls" else cliview.registrations_view
    try:
        print(show(cliview.ServerApi.from_args(args)))
    except RuntimeError as error:
        print(f"mediacore: {error}", file=sys.stderr)
        return 1
    return 0


def _apply_options(config: Config, args: argparse.Namespace) -> Config:
    server = config.server
    if args.data_dir:
        server = replace(server, data_dir=args.data_dir)
    if args.host:
        server = replace(server, host=args.host)
    if args.http_port:
        server = replace(server, http_port=args.http_port)
    if args.log_level:
        server = replace(server, log_level=args.log_level)
    if getattr(args, "workers", None) is not None:
        server = replace(server, workers=args.workers)
    if getattr(args, "insecure_http", False):
        server = replace(server, insecure_http=True)
    rtp = config.rtp
    if args.rtp_ports:
        low, _, high = args.rtp_ports.partition("-")
        if not (low.isdigit() and high.isdigit()) or int(low) >= int(high):
            raise ConfigError(f"--rtp-ports wants LO-HI, got {args.rtp_ports!r}")
        rtp = replace(rtp, port_min=int(low), port_max=int(high))
    sip = replace(config.sip, port=args.sip_port) if args.sip_port else config.sip
    if getattr(args, "sip_tls_port", None) is not None:
        sip = replace(sip, tls_port=args.sip_tls_port)
    cluster = config.cluster
    for key in ("cluster", "node", "advertise"):
        value = getattr(args, key, None)
        if value:
            cluster = replace(cluster, **{"redis" if key == "cluster" else key: value})
    return validate_config(replace(config, server=server, rtp=rtp, sip=sip, cluster=cluster))


def _serve(config: Config) -> int:
    from mediacore.server.logs import setup_logging
    from mediacore.server.runner import run

    setup_logging(config.server.log_level, config.server.log_format)
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
