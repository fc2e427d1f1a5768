"""Identity cookies: signing, tampering, rotation, server-side expiry, attributes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mediacraft.gateway.cookies import CookieIdentity, CookiePolicy, CookieSigner, read_cookie

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UID = "0123456789abcdef0123456789abcdef"
OLD_KEY, NEW_KEY, OTHER_KEY = "old-key-0123456789abcdef", "new-key-0123456789abcdef", "evil-key-0123456789abcdef"


def test_a_signed_value_verifies_to_its_user_and_issue_time() -> None:
    signer = CookieSigner([NEW_KEY])
    found = signer.verify(signer.sign(UID, NOW), NOW + timedelta(hours=1))
    assert found is not None
    assert (found.user_id, found.issued_at) == (UID, NOW)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_changing_any_part_of_the_value_invalidates_it(part: int) -> None:
    signer = CookieSigner([NEW_KEY])
    pieces = signer.sign(UID, NOW).split(".")
    piece = pieces[part]
    pieces[part] = piece[:-1] + ("a" if piece[-1] != "a" else "b")
    assert signer.verify(".".join(pieces), NOW) is None


def test_another_users_id_with_my_signature_is_refused() -> None:
    signer = CookieSigner([NEW_KEY])
    _, stamp, mac = signer.sign(UID, NOW).split(".")
    assert signer.verify(f"{'f' * 32}.{stamp}.{mac}", NOW) is None


def test_rotation_signs_with_the_newest_and_accepts_every_listed_key() -> None:
    old_value = CookieSigner([OLD_KEY]).sign(UID, NOW)
    rotated = CookieSigner([NEW_KEY, OLD_KEY])
    assert rotated.verify(old_value, NOW) is not None
    assert CookieSigner([NEW_KEY]).verify(rotated.sign(UID, NOW), NOW) is not None
    assert CookieSigner([NEW_KEY]).verify(old_value, NOW) is None  # the old key was retired


def test_a_value_signed_with_an_unknown_key_is_refused() -> None:
    assert CookieSigner([NEW_KEY]).verify(CookieSigner([OTHER_KEY]).sign(UID, NOW), NOW) is None


def test_expiry_is_checked_on_the_server_from_the_signed_issue_time() -> None:
    signer = CookieSigner([NEW_KEY], max_age=timedelta(days=30))
    value = signer.sign(UID, NOW)
    assert signer.verify(value, NOW + timedelta(days=29, hours=23)) is not None
    assert signer.verify(value, NOW + timedelta(days=30, seconds=1)) is None


def test_a_value_issued_far_in_the_future_is_refused() -> None:
    signer = CookieSigner([NEW_KEY])
    assert signer.verify(signer.sign(UID, NOW + timedelta(hours=1)), NOW) is None
    assert signer.verify(signer.sign(UID, NOW + timedelta(minutes=1)), NOW) is not None  # clock skew


@pytest.mark.parametrize(
    "value",
    ["", UID, str(uuid.uuid4()), uuid.uuid4().hex, "x" * 500, f"{UID}.abc", f"{UID}..", '{"$ne": null}', "\x00"],
)
def test_unsigned_or_malformed_values_are_refused(value: str) -> None:
    assert CookieSigner([NEW_KEY]).verify(value, NOW) is None


def test_only_minted_user_ids_can_be_signed() -> None:
    with pytest.raises(ValueError):
        CookieSigner([NEW_KEY]).sign("../../etc", NOW)


def test_cookie_attributes_without_tls() -> None:
    header = CookiePolicy("mc_uid", secure=False, max_age=timedelta(days=30)).header("v")
    assert header == "mc_uid=v; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"


def test_tls_adds_secure_and_the_host_prefix() -> None:
    policy = CookiePolicy("mc_uid", secure=True)
    assert policy.name == "__Host-mc_uid"
    parts = policy.header("v").split("; ")
    assert parts[0] == "__Host-mc_uid=v"
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} <= set(parts)
    assert not any(p.lower().startswith("domain=") for p in parts)


def test_read_cookie_finds_the_named_value_among_others() -> None:
    assert read_cookie("a=1; mc_uid=abc.def; b=2", "mc_uid") == "abc.def"
    assert read_cookie("xmc_uid=1", "mc_uid") is None
    assert read_cookie(None, "mc_uid") is None


def test_a_verified_value_is_remembered_but_its_expiry_is_checked_every_time() -> None:
    signer = CookieSigner(["k" * 32], max_age=timedelta(days=30))
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    value = signer.sign("a" * 32, issued)
    assert signer.verify(value, issued) == CookieIdentity("a" * 32, issued)
    assert value in signer._verified
    assert signer.verify(value, issued + timedelta(days=31)) is None  # expired, though remembered
    assert signer.verify(value, issued + timedelta(days=1)) is not None


def test_forged_values_are_not_remembered_and_the_cache_is_bounded() -> None:
    signer = CookieSigner(["k" * 32], cache_size=2)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    values = [signer.sign(c * 32, now) for c in "abc"]
    forged = values[0][:-1] + ("A" if values[0][-1] != "A" else "B")
    assert signer.verify(forged, now) is None and forged not in signer._verified
    for value in values:
        assert signer.verify(value, now) is not None
    assert list(signer._verified) == values[1:]


def test_a_rotated_key_list_checks_remembered_values_again() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    old = CookieSigner(["old-key-" * 4])
    value = old.sign("a" * 32, now)
    assert old.verify(value, now) is not None
    assert CookieSigner(["new-key-" * 4]).verify(value, now) is None  # the old key was dropped
    assert CookieSigner(["new-key-" * 4, "old-key-" * 4]).verify(value, now) is not None
