"""Machine activation through the Python module: every case of tests/vectors/certificates.json with the
same result as the Rust verifier (tests/machine_vectors.rs pins it), the exception classes and codes
(the `tessera` command's exit codes, cli/src/exit.rs), fingerprints, and a few cases made from the
vectors by changing the machine, the clock or the time."""

import json
from pathlib import Path

import pytest

import tessera
from test_vectors import error_name as licence_error_name
from test_vectors import malformed_name

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors"
CERTIFICATES = json.loads((VECTORS / "certificates.json").read_text())
REFERENCE = next(case for case in CERTIFICATES["valid"] if case["name"] == "reference")
DAY = 86_400

# The class and code of each error the vectors name (the part before `(` or `{`).
CODES = {
    "Malformed": (tessera.MalformedError, 10),
    "UnknownKeyId": (tessera.UnknownKeyIdError, 12),
    "NotYetValid": (tessera.NotYetValidError, 16),
    "Expired": (tessera.ExpiredError, 17),
    "ActivationRequired": (tessera.ActivationRequiredError, 30),
    "MalformedCertificate": (tessera.CertificateRefusedError, 31),
    "UnsupportedCertificateVersion": (tessera.CertificateRefusedError, 31),
    "BadCertificateSignature": (tessera.CertificateRefusedError, 31),
    "CertificateForAnotherMachine": (tessera.AnotherMachineError, 32),
    "CertificateForAnotherLicense": (tessera.AnotherLicenseError, 33),
    "LeaseExpired": (tessera.LeaseExpiredError, 34),
    "ClockRolledBack": (tessera.ClockRolledBackError, 35),
}


def error_name(err):
    """The error as the vectors spell it, from the exception's attributes alone."""
    if err.code == 31:
        if err.reason == "malformed":
            return "MalformedCertificate" + malformed_name(err)[len("Malformed") :]
        if err.reason == "unsupported_version":
            return f"UnsupportedCertificateVersion{{found:{err.found_version}}}"
        return "BadCertificateSignature"
    if err.reason == "activation_required":
        return "ActivationRequired"
    if err.reason == "another_machine":
        return "CertificateForAnotherMachine"
    if err.reason == "another_license":
        return f"CertificateForAnotherLicense{{certified:{err.certified_license_id},license_id:{err.license_id}}}"
    if err.reason == "lease_expired":
        return f"LeaseExpired{{lease_ended_at:{err.lease_ended_at}}}"
    if err.reason == "clock_rolled_back":
        return f"ClockRolledBack{{last_seen:{err.last_seen}}}"
    return licence_error_name(err)


@pytest.mark.parametrize("case", CERTIFICATES["valid"], ids=lambda case: case["name"])
def test_valid_certificate_verifies_with_its_lease(case):
    verifier = tessera.Verifier(case["trusted"])
    activated = verifier.verify_activated(
        case["key"], case["text"], case["fingerprint"], now=case["now"], last_seen=case["last_seen"]
    )
    claims = case["claims"]
    assert activated.license.license_id == claims["license_id"]
    assert activated.certificate_issued_at == claims["issued_at"]
    assert activated.lease_ends_at == claims["lease_ends_at"]
    assert activated.lease_days_left == case["lease_days_left"]
    if claims["lease_ends_at"] is not None:
        assert activated.lease_seconds_left == max(0, claims["lease_ends_at"] - case["now"])


@pytest.mark.parametrize("case", CERTIFICATES["invalid"], ids=lambda case: case["name"])
def test_invalid_certificate_fails_exactly(case):
    verifier = tessera.Verifier(case["trusted"], grace=not case.get("without_grace", False))
    with pytest.raises(tessera.LicenseError) as raised:
        if case["certificate"] is None:
            verifier.verify(case["key"], now=case["now"])
        else:
            verifier.verify_activated(
                case["key"],
                case["certificate"],
                bytes.fromhex(case["fingerprint"]),
                now=case["now"],
                last_seen=case.get("last_seen"),
            )
    err = raised.value
    assert error_name(err) == case["error"]
    kind, code = CODES[case["error"].split("{")[0].split("(")[0]]
    assert type(err) is kind and err.code == code
    assert str(err)


@pytest.mark.parametrize("case", CERTIFICATES["fingerprints"], ids=lambda case: case["about"][:40])
def test_fingerprint_of_machine_id_is_the_rust_one(case):
    fingerprint = tessera.fingerprint_of_machine_id(case["product"], case["machine_id"])
    assert fingerprint.hex() == case["fingerprint"]
    assert tessera.fingerprint_of_machine_id(case["product"], case["machine_id"].encode()) == fingerprint


def test_this_machines_fingerprint_is_32_bytes_per_product():
    try:
        first = tessera.machine_fingerprint(1)
    except OSError as err:
        # A machine without an OS machine id (some containers) says so.
        assert "machine id" in str(err)
        return
    assert len(first) == 32
    assert tessera.machine_fingerprint(1) == first
    assert tessera.machine_fingerprint(2) != first


def test_made_up_refusals_have_their_classes():
    verifier = tessera.Verifier(REFERENCE["trusted"])
    key, certificate, now = REFERENCE["key"], REFERENCE["text"], REFERENCE["now"]
    machine = CERTIFICATES["fingerprints"][0]
    other = tessera.fingerprint_of_machine_id(machine["product"], "another machine")
    with pytest.raises(tessera.AnotherMachineError) as raised:
        verifier.verify_activated(key, certificate, other, now=now)
    assert raised.value.code == 32
    lease_end = REFERENCE["claims"]["lease_ends_at"]
    with pytest.raises(tessera.LeaseExpiredError) as raised:
        verifier.verify_activated(key, certificate, REFERENCE["fingerprint"], now=lease_end + 60 * DAY)
    assert (raised.value.code, raised.value.lease_ended_at) == (34, lease_end)
    with pytest.raises(tessera.ClockRolledBackError) as raised:
        verifier.verify_activated(key, certificate, REFERENCE["fingerprint"], now=now, last_seen=now + DAY)
    assert (raised.value.code, raised.value.last_seen, raised.value.now) == (35, now + DAY, now)
    with pytest.raises(tessera.ActivationRequiredError) as raised:
        verifier.verify(key, now=now)
    assert raised.value.code == 30


def test_clock_tolerance_is_the_callers():
    key, certificate, now = REFERENCE["key"], REFERENCE["text"], REFERENCE["now"]
    ten_minutes_ahead = now + 600
    lenient = tessera.Verifier(REFERENCE["trusted"])
    assert lenient.clock_tolerance == 3600
    lenient.verify_activated(key, certificate, REFERENCE["fingerprint"], now=now, last_seen=ten_minutes_ahead)
    strict = tessera.Verifier(REFERENCE["trusted"], clock_tolerance=60)
    with pytest.raises(tessera.ClockRolledBackError):
        strict.verify_activated(key, certificate, REFERENCE["fingerprint"], now=now, last_seen=ten_minutes_ahead)


def test_bad_fingerprints_are_value_or_type_errors():
    verifier = tessera.Verifier(REFERENCE["trusted"])
    for bad in [b"short", "not hex", REFERENCE["fingerprint"][:-2]]:
        with pytest.raises(ValueError):
            verifier.verify_activated(REFERENCE["key"], REFERENCE["text"], bad)
    with pytest.raises(TypeError):
        verifier.verify_activated(REFERENCE["key"], REFERENCE["text"], 42)


def test_activated_licence_is_frozen():
    verifier = tessera.Verifier(REFERENCE["trusted"])
    activated = verifier.verify_activated(
        REFERENCE["key"], REFERENCE["text"], REFERENCE["fingerprint"], now=REFERENCE["now"]
    )
    assert "ActivatedLicense(license=License(" in repr(activated)
    with pytest.raises(AttributeError):
        activated.lease_days_left = 99
