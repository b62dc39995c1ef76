"""Offline verification of Tessera licence keys.

    import tessera

    verifier = tessera.Verifier(["tspk1_1_..."],
                                product=tessera.Product(1, tiers=["free", "pro"], features=["export"]))
    try:
        licence = verifier.verify(saved_key)  # now defaults to the system clock
    except tessera.ExpiredError as err:
        ...  # err.code == 17, err.expired_at
    except tessera.LicenseError as err:
        ...  # err.code: the `tessera verify` exit code of the failure class

A licence that must be activated raises ActivationRequiredError (code 30) from verify(); check it with
this machine's certificate instead:

    activated = verifier.verify_activated(saved_key, saved_certificate,
                                          tessera.machine_fingerprint(1), last_seen=kept_time)
    activated.license, activated.lease_days_left  # renew online when few days are left

which raises CertificateRefusedError (31), AnotherMachineError (32), AnotherLicenseError (33),
LeaseExpiredError (34) or ClockRolledBackError (35) besides the licence's own errors.

One verifier can be shared by every thread. Nothing here touches the network or the disk (but
machine_fingerprint, which reads the operating system's machine id).
"""

from ._tessera import (
    ActivatedLicense,
    ActivationRequiredError,
    AnotherLicenseError,
    AnotherMachineError,
    BadSignatureError,
    CertificateRefusedError,
    ClockRolledBackError,
    ExpiredError,
    LeaseExpiredError,
    License,
    LicenseError,
    MalformedError,
    NotYetValidError,
    Product,
    PublicKeyError,
    RevocationList,
    RevocationsRefusedError,
    RevokedError,
    UnknownKeyIdError,
    UnsupportedVersionError,
    Verifier,
    WrongProductError,
    fingerprint_of_machine_id,
    machine_fingerprint,
    system_now,
)

__all__ = [
    "ActivatedLicense",
    "ActivationRequiredError",
    "AnotherLicenseError",
    "AnotherMachineError",
    "BadSignatureError",
    "CertificateRefusedError",
    "ClockRolledBackError",
    "ExpiredError",
    "LeaseExpiredError",
    "License",
    "LicenseError",
    "MalformedError",
    "NotYetValidError",
    "Product",
    "PublicKeyError",
    "RevocationList",
    "RevocationsRefusedError",
    "RevokedError",
    "UnknownKeyIdError",
    "UnsupportedVersionError",
    "Verifier",
    "WrongProductError",
    "fingerprint_of_machine_id",
    "machine_fingerprint",
    "system_now",
]
