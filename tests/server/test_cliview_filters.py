"""The listing commands (`mediacore audit list`, `mediacore recordings list`) turn their filter
options into the API's query string the same way."""

from __future__ import annotations

import argparse
import urllib.parse

from mediacore.server import cliview

FILTERS = ("room", "who", "since")


def _parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cliview.add_filter_options(parser, FILTERS)
    return parser.parse_args(list(argv))


def test_only_the_filters_given_reach_the_query_escaped() -> None:
    query = cliview.filter_query(
        _parsed("--room", "a b&c", "--since", "2026-12-07T10:00:00+08:00"), FILTERS
    )
    assert query.startswith("?")
    assert urllib.parse.parse_qs(query[1:]) == {
        "room": ["a b&c"],
        "since": ["2026-12-07T10:00:00+08:00"],
    }


def test_no_filter_is_no_query_and_extras_follow_the_filters() -> None:
    assert cliview.filter_query(_parsed(), FILTERS) == ""
    query = cliview.filter_query(_parsed("--who", "ops"), FILTERS, limit="10", offset="0")
    assert query == "?who=ops&limit=10&offset=0"
