"""Secrets out of URLs and log lines: what non-admins see and what the log keeps."""

from __future__ import annotations

import json
import logging

import pytest

from mediacore.redact import redact_url, scrub
from mediacore.server.logs import JsonFormatter, Scrubbed


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:pw@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("rtmp://1.2.3.4/live/abc123", "rtmp://1.2.3.4/live/***"),
        ("rtmps://h:443/app/key/more", "rtmps://h:443/app/***"),
        ("rtmp://h/live", "rtmp://h/live"),  # an application, no key
        (
            "srt://h:9000?passphrase=s3cret&latency=200&mode=caller",
            "srt://h:9000?passphrase=***&latency=200&mode=caller",
        ),
        ("srt://h:9000?streamid=#!::r=live/k", "srt://h:9000?streamid=***"),
        ("https://x/y.m3u8?token=abc&sig=def", "https://x/y.m3u8?token=***&sig=***"),
        ("rtsp://u:p@[fe80::1]:554/a", "rtsp://***@[fe80::1]:554/a"),
        ("rtmp://h:99999/x", "rtmp:***"),  # unparsable: nothing but the scheme
    ],
)
def test_urls_are_shown_without_their_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_masks_secrets_anywhere_in_a_line() -> None:
    line = (
        "opening rtsp://admin:pw@10.0.0.5/x, then rtmp://h/live/KEY?token=zz&latency=1 and "
        "[srt @ 0x1] Connection to srt://h:1?passphrase=abc failed"
    )
    assert scrub(line) == (
        "opening rtsp://***@10.0.0.5/x, then rtmp://h/live/***?token=***&latency=1 and "
        "[srt @ 0x1] Connection to srt://h:1?passphrase=*** failed"
    )
    assert scrub("GET /api/v1/events?token=abc HTTP/1.1") == "GET /api/v1/events?token=*** HTTP/1.1"
    assert scrub("nothing to hide") == "nothing to hide"


def test_every_log_line_is_scrubbed_whatever_logged_it() -> None:
    record = logging.LogRecord(
        "ingest.puller", logging.WARNING, __file__, 1,
        "cannot open %s", ("rtsp://cam:hunter2@10.0.0.9/s",), None,
    )  # fmt: skip
    record.url = "rtsp://cam:hunter2@10.0.0.9/s"
    line = Scrubbed(JsonFormatter()).format(record)
    assert "hunter2" not in line
    assert json.loads(line)["msg"] == "cannot open rtsp://***@10.0.0.9/s"
