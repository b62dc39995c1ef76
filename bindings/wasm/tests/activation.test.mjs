// Machine activation through @tessera/verifier: every case of tests/vectors/certificates.json with the
// same result as the Rust verifier (tests/machine_vectors.rs pins it), the error names and codes (the
// `tessera` command's exit codes, cli/src/exit.rs), fingerprints, and a few cases made from the
// vectors by changing the machine, the clock or the time.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Verifier, fingerprintHex, fingerprintOfMachineId } from "../pkg/node.js";

const CERTIFICATES = JSON.parse(
  readFileSync(new URL("../../../tests/vectors/certificates.json", import.meta.url), "utf8"),
);
const REFERENCE = CERTIFICATES.valid.find((c) => c.name === "reference");
const DAY = 86_400;

const MALFORMED = {
  empty: "Empty",
  wrong_prefix: "WrongPrefix",
  too_long: "TooLong",
  base64: "Base64",
  truncated: "Truncated",
  trailing_bytes: "TrailingBytes",
};

function malformed(err) {
  return err.malformed === "invalid_field"
    ? `InvalidField(${err.field})`
    : MALFORMED[err.malformed];
}

/** The error as the vectors spell it, from the thrown Error's properties alone. */
function errorName(err) {
  if (err.code === 31) {
    if (err.reason === "malformed") return `MalformedCertificate(${malformed(err)})`;
    if (err.reason === "unsupported_version") {
      return `UnsupportedCertificateVersion{found:${err.foundVersion}}`;
    }
    return "BadCertificateSignature";
  }
  switch (err.reason) {
    case "malformed":
      return `Malformed(${malformed(err)})`;
    case "unknown_key_id":
      return `UnknownKeyId{key_id:${err.keyId}}`;
    case "not_yet_valid":
      return `NotYetValid{not_before:${err.notBefore}}`;
    case "expired":
      return `Expired{expired_at:${err.expiredAt},in_grace:${err.inGrace}}`;
    case "activation_required":
      return "ActivationRequired";
    case "another_machine":
      return "CertificateForAnotherMachine";
    case "another_license":
      return `CertificateForAnotherLicense{certified:${err.certifiedLicenseId},license_id:${err.licenseId}}`;
    case "lease_expired":
      return `LeaseExpired{lease_ended_at:${err.leaseEndedAt}}`;
    case "clock_rolled_back":
      return `ClockRolledBack{last_seen:${err.lastSeen}}`;
    default:
      throw new Error(`unexpected reason ${err.reason}: ${err.message}`);
  }
}

// The Error's name and code for each error the vectors name (the part before `(` or `{`).
const CLASSES = {
  Malformed: ["MalformedError", 10],
  UnknownKeyId: ["UnknownKeyIdError", 12],
  NotYetValid: ["NotYetValidError", 16],
  Expired: ["ExpiredError", 17],
  ActivationRequired: ["ActivationRequiredError", 30],
  MalformedCertificate: ["CertificateRefusedError", 31],
  UnsupportedCertificateVersion: ["CertificateRefusedError", 31],
  BadCertificateSignature: ["CertificateRefusedError", 31],
  CertificateForAnotherMachine: ["AnotherMachineError", 32],
  CertificateForAnotherLicense: ["AnotherLicenseError", 33],
  LeaseExpired: ["LeaseExpiredError", 34],
  ClockRolledBack: ["ClockRolledBackError", 35],
};

/** Runs `body`, which must throw; returns what it threw. */
function thrown(body) {
  try {
    body();
  } catch (err) {
    return err;
  }
  assert.fail("did not throw");
}

const hexToBytes = (hex) => Uint8Array.from(hex.match(/../g), (byte) => parseInt(byte, 16));

test("valid certificates verify with their lease", () => {
  for (const c of CERTIFICATES.valid) {
    const activated = new Verifier(c.trusted).verifyActivated(c.key, c.text, c.fingerprint, {
      now: c.now,
      lastSeen: c.last_seen ?? undefined,
    });
    assert.equal(activated.license.licenseId, c.claims.license_id, c.name);
    assert.equal(activated.certificateIssuedAt, c.claims.issued_at, c.name);
    assert.equal(activated.leaseEndsAt, c.claims.lease_ends_at, c.name);
    assert.equal(activated.leaseDaysLeft, c.lease_days_left, c.name);
    if (c.claims.lease_ends_at !== null) {
      assert.equal(activated.leaseSecondsLeft, Math.max(0, c.claims.lease_ends_at - c.now), c.name);
    }
  }
});

test("invalid certificates fail exactly", () => {
  assert.ok(CERTIFICATES.invalid.length >= 30);
  for (const c of CERTIFICATES.invalid) {
    const verifier = new Verifier(c.trusted, { grace: !c.without_grace });
    const err = thrown(() =>
      c.certificate === null
        ? verifier.verify(c.key, { now: c.now })
        : verifier.verifyActivated(c.key, c.certificate, hexToBytes(c.fingerprint), {
            now: c.now,
            lastSeen: c.last_seen,
          }),
    );
    assert.ok(err instanceof Error, c.name);
    assert.equal(errorName(err), c.error, c.name);
    const [name, code] = CLASSES[c.error.split(/[({]/)[0]];
    assert.deepEqual([err.name, err.code], [name, code], c.name);
  }
});

test("fingerprints are the Rust verifier's", () => {
  for (const c of CERTIFICATES.fingerprints) {
    const fingerprint = fingerprintOfMachineId(c.product, c.machine_id);
    assert.ok(fingerprint instanceof Uint8Array && fingerprint.length === 32);
    assert.equal(fingerprintHex(fingerprint), c.fingerprint);
    const fromBytes = fingerprintOfMachineId(c.product, new TextEncoder().encode(c.machine_id));
    assert.deepEqual(fromBytes, fingerprint);
  }
});

test("refusals made from the vectors have their codes", () => {
  const verifier = new Verifier(REFERENCE.trusted);
  const { key, text, now } = REFERENCE;
  const product = CERTIFICATES.fingerprints[0].product;
  const other = fingerprintOfMachineId(product, "another machine");
  assert.equal(thrown(() => verifier.verifyActivated(key, text, other, { now })).code, 32);
  const leaseEnd = REFERENCE.claims.lease_ends_at;
  const lease = thrown(() =>
    verifier.verifyActivated(key, text, REFERENCE.fingerprint, { now: leaseEnd + 60 * DAY }),
  );
  assert.deepEqual([lease.code, lease.leaseEndedAt], [34, leaseEnd]);
  const clock = thrown(() =>
    verifier.verifyActivated(key, text, REFERENCE.fingerprint, { now, lastSeen: now + DAY }),
  );
  assert.deepEqual([clock.code, clock.lastSeen, clock.now], [35, now + DAY, now]);
  assert.equal(thrown(() => verifier.verify(key, { now })).code, 30);
});

test("the clock tolerance is the caller's", () => {
  const { key, text, now, fingerprint } = REFERENCE;
  const lastSeen = now + 600;
  new Verifier(REFERENCE.trusted).verifyActivated(key, text, fingerprint, { now, lastSeen });
  const strict = new Verifier(REFERENCE.trusted, { clockTolerance: 60 });
  const err = thrown(() => strict.verifyActivated(key, text, fingerprint, { now, lastSeen }));
  assert.equal(err.code, 35);
});

test("bad fingerprints and times are TypeErrors", () => {
  const verifier = new Verifier(REFERENCE.trusted);
  const { key, text, fingerprint } = REFERENCE;
  for (const bad of [new Uint8Array(31), "not hex", fingerprint.slice(2), 42, null]) {
    const err = thrown(() => verifier.verifyActivated(key, text, bad));
    assert.ok(err instanceof TypeError);
    assert.equal(err.code, 2);
  }
  const err = thrown(() => verifier.verifyActivated(key, text, fingerprint, { lastSeen: -5 }));
  assert.ok(err instanceof TypeError);
  assert.equal(thrown(() => fingerprintOfMachineId(1, 42)).code, 2);
});
