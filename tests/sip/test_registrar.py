"""Registrar bindings (RFC 3261 §10.3) on a fake clock: `now` is a plain float in seconds."""

from __future__ import annotations

import pytest

from sip.address import Address
from sip.registrar import (
    DEFAULT_EXPIRES,
    MAX_CONTACTS_PER_USER,
    MAX_EXPIRES,
    MIN_EXPIRES,
    Binding,
    Registrar,
    RegistrationError,
)
from sip.transaction import Peer

PHONE = Peer("udp", "198.51.100.20", 5060)
DESK = "sip:alice@198.51.100.20:5060"
MOBILE = "sip:alice@203.0.113.7:49152;transport=tcp"
WALL = 1_700_000_000.0


def contact(uri: str, expires: int | str | None = None) -> Address:
    return Address.parse(f"<{uri}>" + (f";expires={expires}" if expires is not None else ""))


def register(
    registrar: Registrar,
    *contacts: Address,
    star: bool = False,
    expires: str | None = None,
    call_id: str = "reg-1",
    cseq: int = 1,
    now: float = 0.0,
    user: str = "alice",
) -> list[Binding]:
    """One REGISTER; `star` sends `Contact: *` instead of `contacts`."""
    return registrar.update(
        user,
        None if star else list(contacts),
        expires_header=expires,
        source=PHONE,
        call_id=call_id,
        cseq=cseq,
        user_agent="TestPhone/1.0",
        now=now,
        wall_now=WALL + now,
    )


def contacts_of(registrar: Registrar, now: float, user: str = "alice") -> list[str]:
    return [binding.contact for binding in registrar.lookup(user, now)]


def test_register_then_lookup_returns_the_binding() -> None:
    registrar = Registrar()
    [binding] = register(registrar, contact(DESK), expires="600", now=10.0, cseq=7)
    assert registrar.lookup("alice", 11.0) == [binding]
    assert binding.contact == DESK
    assert binding.source == PHONE
    assert (binding.call_id, binding.cseq, binding.user_agent) == ("reg-1", 7, "TestPhone/1.0")
    assert binding.registered_at == WALL + 10.0
    assert binding.remaining(110.0) == 500
    assert registrar.lookup("bob", 11.0) == []


def test_binding_expires_after_its_interval() -> None:
    registrar = Registrar()
    register(registrar, contact(DESK), expires="600", now=0.0)
    assert contacts_of(registrar, 599.9) == [DESK]
    assert contacts_of(registrar, 600.0) == []
    assert registrar.all(600.0) == []
    assert register(registrar, contact(MOBILE), call_id="other", now=700.0)[0].contact == MOBILE


def test_expires_defaults_to_default_expires() -> None:
    """RFC 3261 §10.3 step 6: without Expires, the registrar picks a value."""
    [binding] = register(Registrar(), contact(DESK))
    assert binding.remaining(0.0) == DEFAULT_EXPIRES


def test_contact_expires_parameter_overrides_expires_header() -> None:
    """RFC 3261 §10.2.1.1: the Contact's expires parameter wins over the Expires header."""
    bindings = register(Registrar(), contact(DESK, 300), contact(MOBILE), expires="900")
    assert [b.remaining(0.0) for b in bindings] == [300, 900]


def test_several_contacts_in_one_register_and_across_registers() -> None:
    registrar = Registrar()
    register(registrar, contact(DESK), contact(MOBILE), expires="600")
    assert contacts_of(registrar, 1.0) == [DESK, MOBILE]
    register(registrar, contact("sip:alice@192.0.2.99"), call_id="laptop", expires="600")
    assert contacts_of(registrar, 1.0) == [DESK, MOBILE, "sip:alice@192.0.2.99"]


def test_users_are_independent() -> None:
    registrar = Registrar()
    register(registrar, contact(DESK), user="alice")
    register(registrar, contact("sip:bob@192.0.2.5"), user="bob", call_id="bob-1")
    assert contacts_of(registrar, 1.0, "alice") == [DESK]
    assert contacts_of(registrar, 1.0, "bob") == ["sip:bob@192.0.2.5"]
    assert len(registrar.all(1.0)) == 2


def test_re_register_refreshes_the_binding() -> None:
    registrar = Registrar()
    register(registrar, contact(DESK), expires="600", cseq=1, now=0.0)
    [binding] = register(registrar, contact(DESK), expires="600", cseq=2, now=500.0)
    assert binding.cseq == 2
    assert contacts_of(registrar, 900.0) == [DESK]
    assert binding.remaining(900.0) == 200


def test_expires_zero_on_one_contact_removes_only_that_one() -> None:
    """RFC 3261 §10.2.2: `;expires=0` on a Contact removes that binding."""
    registrar = Registrar()
    register(registrar, contact(DESK), contact(MOBILE), cseq=1)
    remaining = register(registrar, contact(DESK, 0), cseq=2, now=5.0)
    assert [b.contact for b in remaining] == [MOBILE]
    assert contacts_of(registrar, 6.0) == [MOBILE]


def test_expires_header_zero_removes_the_listed_contacts() -> None:
    registrar = Registrar()
    register(registrar, contact(DESK), contact(MOBILE), cseq=1)
    assert register(registrar, contact(DESK), contact(MOBILE), expires="0", cseq=2) == []
    assert registrar.all(1.0) == []


def test_removing_an_unknown_contact_changes_nothing() -> None:
    registrar = Registrar()
    register(registrar, contact(DESK), cseq=1)
    register(registrar, contact(MOBILE, 0), cseq=2)
    assert contacts_of(registrar, 1.0) == [DESK]


def test_contact_star_with_expires_zero_removes_every_binding() -> None:
    """RFC 3261 §10.2.2: `Contact: *` with `Expires: 0` removes all of the user's bindings."""
    registrar = Registrar()
    register(registrar, contact(DESK), cseq=1)
    register(registrar, contact(MOBILE), call_id="reg-2", cseq=1)
    register(registrar, contact("sip:bob@192.0.2.5"), user="bob", call_id="bob-1")
    assert register(registrar, star=True, expires="0", call_id="reg-3", cseq=1) == []
    assert contacts_of(registrar, 1.0) == []
    assert contacts_of(registrar, 1.0, "bob") == ["sip:bob@192.0.2.5"]


@pytest.mark.parametrize("expires", [None, "60", "3600"])
def test_contact_star_without_expires_zero_is_400(expires: str | None) -> None:
    """RFC 3261 §10.3 step 6: `*` is only allowed with Expires 0."""
    registrar = Registrar()
    register(registrar, contact(DESK))
    with pytest.raises(RegistrationError) as caught:
        register(registrar, star=True, expires=expires, cseq=2)
    assert caught.value.status == 400
    assert contacts_of(registrar, 1.0) == [DESK]


@pytest.mark.parametrize(
    ("contact_expires", "header"),
    [(MIN_EXPIRES - 1, None), (1, None), (None, str(MIN_EXPIRES - 1)), (None, "1")],
)
def test_interval_too_brief_is_423_with_min_expires(
    contact_expires: int | None, header: str | None
) -> None:
    """RFC 3261 §10.3 step 7: an interval shorter than we allow gets 423 and Min-Expires."""
    registrar = Registrar()
    with pytest.raises(RegistrationError) as caught:
        register(registrar, contact(MOBILE), contact(DESK, contact_expires), expires=header)
    assert (caught.value.status, caught.value.min_expires) == (423, MIN_EXPIRES)
    assert registrar.all(0.0) == []  # nothing from the refused REGISTER was kept


def test_min_expires_itself_is_accepted() -> None:
    [binding] = register(Registrar(), contact(DESK, MIN_EXPIRES))
    assert binding.remaining(0.0) == MIN_EXPIRES


@pytest.mark.parametrize("expires", [str(MAX_EXPIRES + 1), "86400", "4294967295"])
def test_expires_is_capped_at_max_expires(expires: str) -> None:
    """RFC 3261 §10.3 step 7: the registrar may shorten the interval."""
    [binding] = register(Registrar(), contact(DESK), expires=expires)
    assert binding.remaining(0.0) == MAX_EXPIRES


@pytest.mark.parametrize("expires", ["soon", "-1", "1.5", "12345678901", "\u00b2", "\u0663\u0660"])
def test_malformed_expires_is_400(expires: str) -> None:
    with pytest.raises(RegistrationError) as caught:
        register(Registrar(), contact(DESK, expires))
    assert caught.value.status == 400
    with pytest.raises(RegistrationError):
        register(Registrar(), contact(DESK), expires=expires)


def test_out_of_order_cseq_within_one_call_id_is_ignored() -> None:
    """RFC 3261 §10.3 step 7: same Call-ID and a CSeq not higher changes nothing."""
    registrar = Registrar()
    register(registrar, contact(DESK), expires="600", cseq=5, now=0.0)
    register(registrar, contact(DESK, 0), cseq=4, now=10.0)  # late, reordered
    register(registrar, contact(DESK, 0), cseq=5, now=10.0)  # a retransmission
    [binding] = registrar.lookup("alice", 11.0)
    assert (binding.cseq, binding.remaining(0.0)) == (5, 600)
    register(registrar, contact(DESK, 0), cseq=6, now=20.0)
    assert contacts_of(registrar, 21.0) == []


def test_lower_cseq_with_another_call_id_is_applied() -> None:
    """RFC 3261 §10.3 step 7: CSeq ordering only applies within one Call-ID (a rebooted phone)."""
    registrar = Registrar()
    register(registrar, contact(DESK), expires="600", call_id="before-reboot", cseq=90)
    [binding] = register(registrar, contact(DESK), expires="900", call_id="after-reboot", cseq=1)
    assert (binding.call_id, binding.remaining(0.0)) == ("after-reboot", 900)


def test_at_most_max_contacts_per_user_newest_kept() -> None:
    registrar = Registrar()
    uris = [f"sip:alice@192.0.2.{n}" for n in range(MAX_CONTACTS_PER_USER + 3)]
    for n, uri in enumerate(uris):
        register(registrar, contact(uri), call_id=f"device-{n}", now=float(n))
    assert contacts_of(registrar, 100.0) == uris[-MAX_CONTACTS_PER_USER:]


def test_too_many_contacts_in_one_register_keeps_the_last() -> None:
    uris = [f"sip:alice@192.0.2.{n}" for n in range(MAX_CONTACTS_PER_USER + 2)]
    bindings = register(Registrar(), *(contact(uri) for uri in uris))
    assert [b.contact for b in bindings] == uris[-MAX_CONTACTS_PER_USER:]


def test_refreshing_an_old_contact_keeps_it_when_the_list_is_full() -> None:
    registrar = Registrar()
    uris = [f"sip:alice@192.0.2.{n}" for n in range(MAX_CONTACTS_PER_USER)]
    for n, uri in enumerate(uris):
        register(registrar, contact(uri), call_id=f"device-{n}")
    register(registrar, contact(uris[0]), call_id="device-0", cseq=2)  # the oldest refreshes
    register(registrar, contact("sip:alice@198.51.100.99"), call_id="new-device")
    kept = contacts_of(registrar, 1.0)
    assert uris[0] in kept
    assert uris[1] not in kept
    assert len(kept) == MAX_CONTACTS_PER_USER
