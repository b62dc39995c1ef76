"""Every case of tests/vectors/ through the Python module, with the same result as the Rust verifier
(whose own test, tests/vectors.rs, pins that result in each case's `error` or `claims`)."""

import json
from pathlib import Path

import pytest

import tessera

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors"
LICENSES = json.loads((VECTORS / "licenses.json").read_text())
REVOCATIONS = json.loads((VECTORS / "revocations.json").read_text())
KEYS = json.loads((VECTORS / "keys.json").read_text())
KEY_1 = KEYS["public_keys"]["valid"][0]["text"]

MALFORMED_NAMES = {
    "empty": "Empty",
    "wrong_prefix": "WrongPrefix",
    "too_long": "TooLong",
    "base64": "Base64",
    "truncated": "Truncated",
    "trailing_bytes": "TrailingBytes",
}


def malformed_name(err):
    if err.malformed == "invalid_field":
        return f"Malformed(InvalidField({err.field}))"
    return f"Malformed({MALFORMED_NAMES[err.malformed]})"


def error_name(err):
    """The error as the vectors spell it, from the exception's attributes alone."""
    if err.reason == "malformed":
        return malformed_name(err)
    if err.reason == "unsupported_version":
        return f"UnsupportedVersion{{found:{err.found_version}}}"
    if err.reason == "unknown_key_id":
        return f"UnknownKeyId{{key_id:{err.key_id}}}"
    if err.reason == "bad_signature":
        return "BadSignature"
    if err.reason == "wrong_product":
        return f"WrongProduct{{expected:{err.expected_product},found:{err.found_product}}}"
    if err.reason == "revoked":
        return f"Revoked{{license_id:{err.license_id}}}"
    if err.reason == "not_yet_valid":
        return f"NotYetValid{{not_before:{err.not_before}}}"
    if err.reason == "expired":
        return f"Expired{{expired_at:{err.expired_at},in_grace:{str(err.in_grace).lower()}}}"
    if err.reason == "stale":
        return f"Stale{{sequence:{err.sequence},last_seen:{err.last_seen}}}"
    raise AssertionError(f"unexpected reason {err.reason}")


def claims_of(licence):
    return {
        "key_id": licence.key_id,
        "license_id": licence.license_id,
        "product": licence.product,
        "tier": licence.tier,
        "issued_at": licence.issued_at,
        "not_before": licence.not_before,
        "expires_at": licence.expires_at,
        "grace_seconds": licence.grace_seconds,
        "features": [bit for bit in range(64) if licence.feature_bits >> bit & 1],
        "licensee": licence.licensee,
    }


CODES = {
    "Malformed": (tessera.MalformedError, 10),
    "UnsupportedVersion": (tessera.UnsupportedVersionError, 11),
    "UnknownKeyId": (tessera.UnknownKeyIdError, 12),
    "BadSignature": (tessera.BadSignatureError, 13),
    "WrongProduct": (tessera.WrongProductError, 14),
    "Revoked": (tessera.RevokedError, 15),
    "NotYetValid": (tessera.NotYetValidError, 16),
    "Expired": (tessera.ExpiredError, 17),
}


@pytest.mark.parametrize("case", LICENSES["valid"], ids=lambda case: case["name"])
def test_valid_licence_verifies_to_its_claims(case):
    verifier = tessera.Verifier([case["public_key"]], product=tessera.Product(case["claims"]["product"]))
    licence = verifier.verify(case["text"], now=case["now"])
    assert claims_of(licence) == case["claims"]


@pytest.mark.parametrize("case", LICENSES["equivalent"], ids=lambda case: case["name"])
def test_equivalent_text_verifies_the_same(case):
    original = next(valid for valid in LICENSES["valid"] if valid["name"] == case["same_as"])
    licence = tessera.Verifier([original["public_key"]]).verify(case["text"], now=original["now"])
    assert claims_of(licence) == original["claims"]


@pytest.mark.parametrize("case", LICENSES["invalid"], ids=lambda case: case["name"])
def test_invalid_licence_fails_exactly(case):
    product = tessera.Product(case["product"]) if "product" in case else None
    verifier = tessera.Verifier(case["trusted"], product=product, grace=not case.get("without_grace", False))
    revocations = None
    if "revocations" in case:
        revocations = verifier.check_revocations(case["revocations"])
    with pytest.raises(tessera.LicenseError) as raised:
        verifier.verify(case["text"], now=case["now"], revocations=revocations)
    err = raised.value
    assert error_name(err) == case["error"]
    kind, code = CODES[case["error"].split("{")[0].split("(")[0]]
    assert type(err) is kind and err.code == code
    assert str(err)


def test_revocation_list_text_is_checked_when_passed_to_verify():
    case = next(case for case in LICENSES["invalid"] if "revocations" in case)
    verifier = tessera.Verifier(case["trusted"])
    with pytest.raises(tessera.RevokedError):
        verifier.verify(case["text"], now=case["now"], revocations=case["revocations"])


@pytest.mark.parametrize("case", REVOCATIONS["valid"], ids=lambda case: case["name"])
def test_valid_revocation_list_is_accepted(case):
    verifier = tessera.Verifier([case["public_key"]])
    checked = verifier.check_revocations(case["text"], last_seen=case["sequence"])
    assert (checked.key_id, checked.sequence, checked.issued_at, checked.revoked) == (
        case["key_id"],
        case["sequence"],
        case["issued_at"],
        case["revoked"],
    )


@pytest.mark.parametrize("case", REVOCATIONS["invalid"], ids=lambda case: case["name"])
def test_invalid_revocation_list_is_refused_exactly(case):
    verifier = tessera.Verifier(case["trusted"])
    with pytest.raises(tessera.RevocationsRefusedError) as raised:
        verifier.check_revocations(case["text"], last_seen=case.get("last_seen"))
    assert error_name(raised.value) == case["error"]
    assert raised.value.code == 19


@pytest.mark.parametrize("case", KEYS["public_keys"]["valid"], ids=lambda case: case["name"])
def test_valid_public_key_text_is_trusted_unless_the_point_is_weak(case):
    if case["name"] == "y_is_p_minus_1":
        # A canonical encoding of a point of small order: the Rust verifier refuses to trust it.
        with pytest.raises(tessera.PublicKeyError) as raised:
            tessera.Verifier([case["text"]])
        assert (raised.value.reason, raised.value.key_id, raised.value.code) == ("invalid_key", 1, 3)
    else:
        tessera.Verifier([case["text"]])


@pytest.mark.parametrize("case", KEYS["public_keys"]["invalid"], ids=lambda case: case["name"])
def test_invalid_public_key_text_is_refused_exactly(case):
    with pytest.raises(tessera.PublicKeyError) as raised:
        tessera.Verifier([KEY_1, case["text"]])
    assert error_name(raised.value) == case["error"]
    assert (raised.value.key_index, raised.value.code) == (1, 3)


def test_licence_is_frozen_and_answers_by_name():
    case = LICENSES["valid"][0]
    product = tessera.Product(1, tiers=["free", "pro", "team"], features=["export", "sync", "cloud", "ai", "plugins", "x"])
    licence = tessera.Verifier([case["public_key"]], product=product).verify(case["text"], case["now"])
    assert licence.tier_name == "pro" and licence.tier_at_least("pro") and not licence.tier_at_least("team")
    assert licence.features == ["export", "sync", "cloud", "ai", "plugins"]
    assert licence.has_feature("plugins") and not licence.has_feature("x") and not licence.has_feature("nope")
    assert licence.validity == "active" and not licence.in_grace
    with pytest.raises(AttributeError):
        licence.tier = 2
