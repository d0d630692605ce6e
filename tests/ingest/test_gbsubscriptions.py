"""The platform's subscriptions on a fake clock (GB/T 28181-2016 9.11): due when a device comes
online, refreshed before expiry, retried with a back-off, renewed after a restart; catalog
changes applied to a channel list; the settings; and the talkback table."""

from __future__ import annotations

import pytest

from ingest.gbnotify import CatalogChange
from ingest.gbsettings import parse_gb28181_settings
from ingest.gbsubscriptions import (
    RETRY_FIRST,
    GbSubscriptionSettings,
    SubscriptionTable,
    apply_catalog_changes,
    parse_subscription_settings,
)
from ingest.gbtalkback import TalkbackError, TalkbackTable
from ingest.manscdp import CatalogItem

DEVICE = "34020000001320000001"
CHANNEL = "34020000001310000001"


def table(**settings: object) -> SubscriptionTable:
    return SubscriptionTable(GbSubscriptionSettings(**settings))  # type: ignore[arg-type]


def test_a_device_online_has_every_enabled_kind_due_once() -> None:
    subscriptions = table(position_interval=5)
    subscriptions.device_online(DEVICE, now=10.0)
    due = subscriptions.due(10.0)
    assert [s.kind for s in due] == ["Catalog", "Alarm", "MobilePosition"]
    assert subscriptions.due(10.0) == []  # in flight: not sent twice


def test_positions_are_not_subscribed_without_an_interval() -> None:
    subscriptions = table(alarm=False)
    subscriptions.device_online(DEVICE, now=0.0)
    assert [s.kind for s in subscriptions.due(0.0)] == ["Catalog"]


def test_a_granted_subscription_is_refreshed_before_it_expires() -> None:
    subscriptions = table(alarm=False, expires=100)
    subscriptions.device_online(DEVICE, now=0.0)
    [catalog] = subscriptions.due(0.0)
    subscriptions.answered(catalog, 200, 50, now=1.0)  # the device grants less than asked
    assert catalog.state == "active"
    assert subscriptions.due(40.0) == []
    assert subscriptions.due(41.0) == [catalog]  # at 80 % of the 50 s granted
    assert catalog.expires_at == 51.0


def test_refusals_back_off_doubling_and_481_renews_the_dialog_at_once() -> None:
    subscriptions = table(alarm=False)
    subscriptions.device_online(DEVICE, now=0.0)
    [catalog] = subscriptions.due(0.0)
    subscriptions.answered(catalog, 489, None, now=0.0)
    assert catalog.state == "failed"
    assert subscriptions.due(RETRY_FIRST - 1) == []
    assert subscriptions.due(RETRY_FIRST) == [catalog]
    subscriptions.answered(catalog, 408, None, now=RETRY_FIRST)
    assert subscriptions.due(RETRY_FIRST * 2.5) == []
    assert subscriptions.due(RETRY_FIRST * 3) == [catalog]
    subscriptions.answered(catalog, 200, None, now=100.0)
    catalog.dialog = object()
    [refresh] = subscriptions.due(10_000.0)
    subscriptions.answered(refresh, 481, None, now=10_000.0)
    assert catalog.dialog is None and subscriptions.due(10_000.0) == [catalog]


def test_a_device_that_restarts_is_subscribed_anew_and_late_answers_are_ignored() -> None:
    subscriptions = table(alarm=False)
    subscriptions.device_online(DEVICE, now=0.0)
    [old] = subscriptions.due(0.0)
    subscriptions.device_online(DEVICE, now=5.0)
    subscriptions.answered(old, 200, 3600, now=6.0)
    [new] = subscriptions.due(6.0)
    assert new is not old and new.state == "pending"
    subscriptions.device_offline(DEVICE)
    assert subscriptions.due(7.0) == [] and subscriptions.describe(DEVICE, 7.0) == {}


def test_catalog_changes_add_update_switch_and_delete_channels() -> None:
    channels = {CHANNEL: CatalogItem(CHANNEL, name="前门", status="ON", longitude=116.0)}
    new = f"{DEVICE[:10]}1310000002"
    applied = apply_catalog_changes(
        channels,
        (
            CatalogChange(CatalogItem(new, name="后门", status="ON"), "ADD"),
            CatalogChange(CatalogItem(CHANNEL, name="正门"), "UPDATE"),
            CatalogChange(CatalogItem(CHANNEL), "OFF"),
            CatalogChange(CatalogItem("nobody"), "DEL"),
        ),
        limit=10,
    )
    assert applied == [
        {"channel": new, "event": "ADD"},
        {"channel": CHANNEL, "event": "UPDATE"},
        {"channel": CHANNEL, "event": "OFF"},
    ]
    assert channels[CHANNEL].name == "正门" and channels[CHANNEL].status == "OFF"
    assert channels[CHANNEL].longitude == 116.0  # an UPDATE without it keeps it
    apply_catalog_changes(channels, (CatalogChange(CatalogItem(new), "DEL"),), limit=10)
    assert set(channels) == {CHANNEL}


def test_a_full_channel_list_takes_no_new_channel() -> None:
    channels = {CHANNEL: CatalogItem(CHANNEL)}
    change = CatalogChange(CatalogItem(f"{DEVICE[:10]}1310000002"), "ADD")
    assert apply_catalog_changes(channels, (change,), limit=1) == []


def test_settings_default_and_bad_values_name_their_key() -> None:
    assert parse_subscription_settings({}) == GbSubscriptionSettings(True, True, 0, 3600)
    settings = parse_gb28181_settings(
        {"domain": "3402000000", "password": "x", "position_interval": 5, "talkback_duplex": "half"}
    )
    assert settings.subscriptions.position_interval == 5
    assert settings.talkback_duplex == "half"
    for bad in (
        {"subscribe_catalog": "yes"},
        {"position_interval": -1},
        {"subscribe_expires": 5},
        {"talkback_duplex": "simplex"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            parse_gb28181_settings({"domain": "3402000000", "password": "x", **bad})


def test_talkbacks_match_the_device_invite_once_and_one_per_channel() -> None:
    talkbacks = TalkbackTable()
    audio = f"{DEVICE[:10]}1370000001"
    talkback = talkbacks.start(DEVICE, audio, "command", "full", wall_now=0.0)
    with pytest.raises(TalkbackError) as busy:
        talkbacks.start(DEVICE, audio, "other", "half", wall_now=0.0)
    assert busy.value.status == 409
    assert talkbacks.expecting(audio) is talkback
    assert talkbacks.expecting(DEVICE) is talkback
    assert talkbacks.expecting("34020000001320000002") is None
    talkback.call_id = "abc"  # being answered
    assert talkbacks.expecting(audio) is None
    talkbacks.connected(talkback, "abc", "p-1")
    assert talkback.describe()["participant"] == "p-1"
    assert talkbacks.ended(talkback, "stopped") and not talkbacks.ended(talkback, "again")
    assert talkbacks.find(DEVICE, audio) is None
