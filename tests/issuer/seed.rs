//! Licences written straight into the issuer's database, as its webhooks would record them, and keys
//! signed with its development key.
//!
//! SQLite in WAL mode lets a test write while the issuer runs; the issuer must have started once on
//! the data directory so that the key file and the schema exist.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tessera_keys::{Claims, FeatureSet, LicenseId, SigningKey, UnixTime};

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The issuer's development signing key in `data_dir`.
pub fn dev_key(data_dir: &Path) -> SigningKey {
    SigningKey::read_file(&data_dir.join("dev-signing-key.tssk")).expect("development key")
}

/// A licence to put into the database.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The licence id, as a number.
    pub id: u64,
    /// `licenses.checkout_session_id`.
    pub checkout_session_id: Option<String>,
    /// Product id.
    pub product: u32,
    /// Tier index.
    pub tier: u8,
    /// Feature bits.
    pub features: u64,
    /// `active`, `expired`, `revoked` or `suspended`.
    pub status: &'static str,
    /// When the key was signed.
    pub issued_at: u64,
    /// When the key expires; `None` is perpetual.
    pub expires_at: Option<u64>,
    /// Grace period signed into the key.
    pub grace_seconds: Option<u32>,
}

impl Seed {
    /// An active licence `id` of product 1, tier 1, feature bit 0, expiring in 30 days with 7 days'
    /// grace.
    pub fn active(id: u64) -> Seed {
        let now = now();
        Seed {
            id,
            checkout_session_id: None,
            product: 1,
            tier: 1,
            features: 0b1,
            status: "active",
            issued_at: now - 60,
            expires_at: Some(now + 30 * 86_400),
            grace_seconds: Some(7 * 86_400),
        }
    }

    /// The licence id.
    pub fn license_id(&self) -> LicenseId {
        LicenseId(self.id.to_be_bytes())
    }

    /// A key for this licence signed by `signer`.
    pub fn sign_with(&self, signer: &SigningKey) -> String {
        signer
            .sign_license(&Claims {
                key_id: signer.id(),
                license_id: self.license_id(),
                product: self.product,
                tier: self.tier,
                issued_at: UnixTime(self.issued_at),
                not_before: None,
                expires_at: self.expires_at.map(UnixTime),
                grace_seconds: self.grace_seconds,
                features: FeatureSet(self.features),
                licensee: None,
                requires_activation: false,
            })
            .expect("sign licence")
    }

    /// A key for this licence signed with the issuer's development key, not recorded anywhere.
    pub fn sign(&self, data_dir: &Path) -> String {
        self.sign_with(&dev_key(data_dir))
    }

    /// Records the licence and a key signed with the development key; returns the key.
    pub fn insert(&self, data_dir: &Path) -> String {
        let key = self.sign(data_dir);
        self.insert_with_key(data_dir, &key);
        key
    }

    /// Records the licence with `key` as its only key.
    pub fn insert_with_key(&self, data_dir: &Path, key: &str) {
        let conn = open(data_dir);
        let id = self.license_id().to_hex().to_string();
        let now = now() as i64;
        conn.execute(
            "INSERT INTO licenses (id, product, tier, features, status, checkout_session_id,
                 expires_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            rusqlite::params![
                id,
                self.product,
                self.tier,
                self.features as i64,
                self.status,
                self.checkout_session_id,
                self.expires_at.map(|t| t as i64),
                now
            ],
        )
        .expect("insert licence");
        if self.status == "revoked" {
            conn.execute(
                "INSERT INTO revocations (license_id, revoked_at, reason) VALUES (?1, ?2, 'test')",
                rusqlite::params![id, now],
            )
            .expect("insert revocation");
        }
        add_key(data_dir, self, key);
    }
}

/// Records `key` as a further key of `seed`'s licence (a renewal), newest from now on.
pub fn add_key(data_dir: &Path, seed: &Seed, key: &str) {
    let signing_key_id = dev_key(data_dir).id();
    open(data_dir)
        .execute(
            "INSERT INTO license_keys (license_id, key_text, signing_key_id, issued_at, expires_at,
                 reason)
             VALUES (?1, ?2, ?3, ?4, ?5, 'test')",
            rusqlite::params![
                seed.license_id().to_hex().to_string(),
                key,
                signing_key_id,
                seed.issued_at as i64,
                seed.expires_at.map(|t| t as i64)
            ],
        )
        .expect("insert key");
}

fn open(data_dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(data_dir.join("tessera.sqlite3")).expect("open database");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout");
    conn
}
