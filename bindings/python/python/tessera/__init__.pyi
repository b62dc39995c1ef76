from typing import Literal, Optional, Sequence, Union

def system_now() -> int: ...
def machine_fingerprint(product: int) -> bytes: ...
def fingerprint_of_machine_id(product: int, raw: Union[bytes, str]) -> bytes: ...

class Product:
    id: int
    tiers: list[str]
    features: list[str]
    def __init__(self, id: int, tiers: Sequence[str] = ..., features: Sequence[str] = ...) -> None: ...

class RevocationList:
    key_id: int
    sequence: int
    issued_at: int
    revoked: list[str]

class License:
    license_id: str
    key_id: int
    product: int
    tier: int
    tier_name: Optional[str]
    features: list[str]
    feature_bits: int
    issued_at: int
    not_before: Optional[int]
    expires_at: Optional[int]
    grace_seconds: Optional[int]
    grace_ends_at: Optional[int]
    licensee: Optional[str]
    validity: Literal["perpetual", "active", "grace"]
    in_grace: bool
    def has_feature(self, name: str) -> bool: ...
    def tier_at_least(self, name: str) -> bool: ...

class ActivatedLicense:
    license: License
    certificate_issued_at: int
    lease_ends_at: Optional[int]
    lease_seconds_left: Optional[int]
    lease_days_left: Optional[int]

class Verifier:
    product: Optional[Product]
    grace: bool
    clock_tolerance: int
    def __init__(
        self,
        public_keys: Sequence[str],
        *,
        product: Optional[Product] = None,
        grace: bool = True,
        clock_tolerance: Optional[int] = None,
    ) -> None: ...
    def check_revocations(self, text: str, *, last_seen: Optional[int] = None) -> RevocationList: ...
    def verify(
        self,
        key: str,
        now: Optional[int] = None,
        revocations: Union[RevocationList, str, None] = None,
    ) -> License: ...
    def verify_activated(
        self,
        key: str,
        certificate: str,
        fingerprint: Union[bytes, str],
        now: Optional[int] = None,
        last_seen: Optional[int] = None,
        revocations: Union[RevocationList, str, None] = None,
    ) -> ActivatedLicense: ...

class LicenseError(Exception):
    code: int
    reason: str
    malformed: Optional[str]
    field: Optional[str]

class PublicKeyError(LicenseError):
    key_index: int
    key_id: int
    found_version: int

class MalformedError(LicenseError): ...

class UnsupportedVersionError(LicenseError):
    found_version: int

class UnknownKeyIdError(LicenseError):
    key_id: int

class BadSignatureError(LicenseError): ...

class WrongProductError(LicenseError):
    expected_product: int
    found_product: int

class RevokedError(LicenseError):
    license_id: str

class NotYetValidError(LicenseError):
    not_before: int
    now: int

class ExpiredError(LicenseError):
    expired_at: int
    now: int
    in_grace: bool

class RevocationsRefusedError(LicenseError):
    key_id: int
    found_version: int
    sequence: int
    last_seen: int

class ActivationRequiredError(LicenseError): ...

class CertificateRefusedError(LicenseError):
    found_version: int

class AnotherMachineError(LicenseError): ...

class AnotherLicenseError(LicenseError):
    license_id: str
    certified_license_id: str

class LeaseExpiredError(LicenseError):
    lease_ended_at: int
    now: int

class ClockRolledBackError(LicenseError):
    last_seen: int
    now: int
