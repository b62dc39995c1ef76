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

One verifier can be shared by every thread. Nothing here touches the network or the disk.
"""

from ._tessera import (
    BadSignatureError,
    ExpiredError,
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
    system_now,
)

__all__ = [
    "BadSignatureError",
    "ExpiredError",
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
    "system_now",
]
