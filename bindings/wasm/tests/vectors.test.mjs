// Every case of tests/vectors/ through @tessera/verifier, with the same result as the Rust verifier
// (whose own test, tests/vectors.rs, pins that result in each case's `error` or `claims`).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Verifier } from "../pkg/node.js";

// Sequence numbers go up to 2^64 - 1, past what a JSON number keeps exactly: they are read as strings
// (for BigInt) by quoting them first.
const load = (file) =>
  JSON.parse(
    readFileSync(new URL(`../../../tests/vectors/${file}`, import.meta.url), "utf8").replace(
      /"(sequence|last_seen)": (\d+)/g,
      '"$1": "$2"',
    ),
  );
const LICENSES = load("licenses.json");
const REVOCATIONS = load("revocations.json");
const KEYS = load("keys.json");
const KEY_1 = KEYS.public_keys.valid[0].text;

const MALFORMED = {
  empty: "Empty",
  wrong_prefix: "WrongPrefix",
  too_long: "TooLong",
  base64: "Base64",
  truncated: "Truncated",
  trailing_bytes: "TrailingBytes",
};

/** The error as the vectors spell it, from the thrown Error's properties alone. */
function errorName(err) {
  switch (err.reason) {
    case "malformed":
      return err.malformed === "invalid_field"
        ? `Malformed(InvalidField(${err.field}))`
        : `Malformed(${MALFORMED[err.malformed]})`;
    case "unsupported_version":
      return `UnsupportedVersion{found:${err.foundVersion}}`;
    case "unknown_key_id":
      return `UnknownKeyId{key_id:${err.keyId}}`;
    case "bad_signature":
      return "BadSignature";
    case "wrong_product":
      return `WrongProduct{expected:${err.expectedProduct},found:${err.foundProduct}}`;
    case "revoked":
      return `Revoked{license_id:${err.licenseId}}`;
    case "not_yet_valid":
      return `NotYetValid{not_before:${err.notBefore}}`;
    case "expired":
      return `Expired{expired_at:${err.expiredAt},in_grace:${err.inGrace}}`;
    case "stale":
      return `Stale{sequence:${err.sequence},last_seen:${err.lastSeen}}`;
    default:
      throw new Error(`unexpected reason ${err.reason}: ${err.message}`);
  }
}

const CODES = {
  Malformed: 10,
  UnsupportedVersion: 11,
  UnknownKeyId: 12,
  BadSignature: 13,
  WrongProduct: 14,
  Revoked: 15,
  NotYetValid: 16,
  Expired: 17,
};

function claimsOf(licence) {
  const features = [];
  for (let bit = 0n; bit < 64n; bit++) {
    if ((licence.featureBits >> bit) & 1n) features.push(Number(bit));
  }
  return {
    key_id: licence.keyId,
    license_id: licence.licenseId,
    product: licence.product,
    tier: licence.tier,
    issued_at: licence.issuedAt,
    not_before: licence.notBefore,
    expires_at: licence.expiresAt,
    grace_seconds: licence.graceSeconds,
    features,
    licensee: licence.licensee,
  };
}

/** Runs `body`, which must throw; returns what it threw. */
function thrown(body) {
  try {
    body();
  } catch (err) {
    return err;
  }
  assert.fail("did not throw");
}

test("valid licences verify to their claims", () => {
  for (const c of LICENSES.valid) {
    const verifier = new Verifier([c.public_key], { product: { id: c.claims.product } });
    assert.deepEqual(claimsOf(verifier.verify(c.text, { now: c.now })), c.claims, c.name);
  }
});

test("equivalent texts verify the same", () => {
  for (const c of LICENSES.equivalent) {
    const original = LICENSES.valid.find((valid) => valid.name === c.same_as);
    const licence = new Verifier([original.public_key]).verify(c.text, { now: original.now });
    assert.deepEqual(claimsOf(licence), original.claims, c.name);
  }
});

test("invalid licences fail exactly", () => {
  assert.ok(LICENSES.invalid.length > 0);
  for (const c of LICENSES.invalid) {
    const options = { grace: !c.without_grace };
    if (c.product !== undefined) options.product = { id: c.product };
    let verifier = new Verifier(c.trusted, options);
    if (c.revocations !== undefined) verifier = verifier.withRevocations(c.revocations);
    const err = thrown(() => verifier.verify(c.text, { now: c.now }));
    assert.ok(err instanceof Error, c.name);
    assert.equal(errorName(err), c.error, c.name);
    assert.equal(err.code, CODES[c.error.split(/[({]/)[0]], c.name);
    assert.equal(err.name, `${c.error.split(/[({]/)[0]}Error`, c.name);
  }
});

test("a revocation list given to verify is checked and honoured on that call", () => {
  const c = LICENSES.invalid.find((invalid) => invalid.revocations !== undefined);
  const verifier = new Verifier(c.trusted);
  const err = thrown(() => verifier.verify(c.text, { now: c.now, revocations: c.revocations }));
  assert.equal(err.code, 15);
});

test("revocation lists are accepted or refused exactly", () => {
  for (const c of REVOCATIONS.valid) {
    const list = new Verifier([c.public_key]).checkRevocations(c.text, BigInt(c.sequence));
    assert.deepEqual(
      [list.keyId, list.sequence, list.issuedAt, list.revoked],
      [c.key_id, BigInt(c.sequence), c.issued_at, c.revoked],
      c.name,
    );
  }
  for (const c of REVOCATIONS.invalid) {
    const verifier = new Verifier(c.trusted);
    const lastSeen = c.last_seen === undefined ? undefined : BigInt(c.last_seen);
    const err = thrown(() => verifier.checkRevocations(c.text, lastSeen));
    assert.equal(errorName(err), c.error, c.name);
    assert.equal(err.code, 19, c.name);
  }
});

test("public-key texts are trusted or refused as by the Rust verifier", () => {
  for (const c of KEYS.public_keys.valid) {
    if (c.name === "y_is_p_minus_1") {
      // A canonical encoding of a point of small order: the Rust verifier refuses to trust it.
      const err = thrown(() => new Verifier([c.text]));
      assert.deepEqual([err.code, err.reason, err.keyId], [3, "invalid_key", 1]);
    } else {
      new Verifier([c.text]);
    }
  }
  for (const c of KEYS.public_keys.invalid) {
    const err = thrown(() => new Verifier([KEY_1, c.text]));
    assert.equal(errorName(err), c.error, c.name);
    assert.deepEqual([err.code, err.keyIndex], [3, 1], c.name);
  }
});

test("names are answered from the product's tables; bad arguments are TypeErrors", () => {
  const c = LICENSES.valid[0];
  const verifier = new Verifier([c.public_key], {
    product: { id: 1, tiers: ["free", "pro", "team"], features: ["export", "sync", "cloud", "ai", "plugins", "x"] },
  });
  const licence = verifier.verify(c.text, { now: c.now });
  assert.equal(licence.tierName, "pro");
  assert.deepEqual(licence.features, ["export", "sync", "cloud", "ai", "plugins"]);
  assert.ok(verifier.hasFeature(licence, "plugins") && !verifier.hasFeature(licence, "x"));
  assert.ok(verifier.tierAtLeast(licence, "pro") && !verifier.tierAtLeast(licence, "team"));
  assert.deepEqual([licence.validity, licence.inGrace], ["active", false]);
  const err = thrown(() => verifier.verify(c.text, { now: -1 }));
  assert.ok(err instanceof TypeError);
  assert.equal(err.code, 2);
});
