//! Audited changes: a change and its audit entry commit together, or neither does.

use tessera_issuer::store::{ApplyError, LicenseRecord, LicenseStatus, NewAuditEntry};

use super::fixtures::{insert, license};
use super::on_each_backend;

fn suspension(license: &LicenseRecord) -> NewAuditEntry<'static> {
    NewAuditEntry {
        at: 200,
        actor: "support",
        action: "license.suspend",
        license_id: Some(license.id),
        reason: Some("chargeback pending"),
        details: r#"{"from":"active"}"#.to_owned(),
    }
}

fn suspended(license: &LicenseRecord) -> LicenseRecord {
    LicenseRecord {
        status: LicenseStatus::Suspended,
        updated_at: 200,
        ..license.clone()
    }
}

#[test]
fn a_change_and_its_audit_entry_commit_together() {
    on_each_backend(|store| {
        let (one, other) = (license(1, 100), license(2, 100));
        insert(store, &one);
        insert(store, &other);
        store
            .audited(&suspension(&one), &mut |tx| {
                tx.update_license(&suspended(&one))?;
                Ok(())
            })
            .unwrap();
        assert_eq!(store.license(&one.id).unwrap().unwrap().0, suspended(&one));

        let entries = store.audit_log(Some(&one.id), 10).unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(
            (entry.at, entry.actor.as_str(), entry.action.as_str()),
            (200, "support", "license.suspend")
        );
        assert_eq!(entry.license_id, Some(one.id.to_hex().to_string()));
        assert_eq!(entry.reason.as_deref(), Some("chargeback pending"));
        assert_eq!(entry.details, r#"{"from":"active"}"#);
        assert_eq!(store.audit_log(None, 10).unwrap(), entries);
        assert!(store.audit_log(Some(&other.id), 10).unwrap().is_empty());

        // Newest first.
        store
            .audited(
                &NewAuditEntry {
                    at: 300,
                    action: "license.reinstate",
                    ..suspension(&one)
                },
                &mut |tx| {
                    tx.update_license(&one)?;
                    Ok(())
                },
            )
            .unwrap();
        let actions: Vec<_> = store
            .audit_log(Some(&one.id), 10)
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect();
        assert_eq!(actions, ["license.reinstate", "license.suspend"]);
        assert!(entries[0].id < store.audit_log(None, 1).unwrap()[0].id);
    });
}

#[test]
fn a_failing_change_writes_neither_itself_nor_its_audit_entry() {
    on_each_backend(|store| {
        let one = license(1, 100);
        insert(store, &one);
        let failed = store.audited(&suspension(&one), &mut |tx| {
            tx.update_license(&suspended(&one))?;
            Err(ApplyError::Unprocessable(
                "refused after the write".to_owned(),
            ))
        });
        assert!(
            matches!(failed, Err(ApplyError::Unprocessable(_))),
            "{failed:?}"
        );
        assert_eq!(store.license(&one.id).unwrap().unwrap().0, one);
        assert!(store.audit_log(None, 10).unwrap().is_empty());
    });
}
