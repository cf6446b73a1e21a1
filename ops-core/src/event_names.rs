//! Every event name pgops emits, one constant each: tools name events only through these,
//! and a test holds this list equal to the schemas in `docs/schemas/events/`.

pub const AUDIT_FINDING: &str = "audit.finding";
pub const AUDIT_SUMMARY: &str = "audit.summary";
pub const BACKUP_COMPLETED: &str = "backup.completed";
pub const BACKUP_FAILED: &str = "backup.failed";
pub const BACKUP_PLANNED: &str = "backup.planned";
pub const BACKUP_REPLAY_RESUMED: &str = "backup.replay_resumed";
pub const BACKUP_PARTIAL_REMOVED: &str = "backup.partial_removed";
pub const BACKUP_SPACE_LOW: &str = "backup.space_low";
pub const BACKUP_STARTED: &str = "backup.started";
pub const BUCKET_CHANGED: &str = "bucket.changed";
pub const BUCKET_CHECKED: &str = "bucket.checked";
pub const BUCKET_FAILED: &str = "bucket.failed";
pub const BUCKET_FINDING: &str = "bucket.finding";
pub const BUCKET_RESEALED: &str = "bucket.resealed";
pub const BUCKET_RESTORED: &str = "bucket.restored";
pub const CATALOG_CREATED: &str = "catalog.created";
pub const CONFIG_CHANGED: &str = "config.changed";
pub const COPY_COMPLETED: &str = "copy.completed";
pub const COPY_FAILED: &str = "copy.failed";
pub const COPY_PLANNED: &str = "copy.planned";
pub const COPY_SKIPPED: &str = "copy.skipped";
pub const DRILL_COMPLETED: &str = "drill.completed";
pub const DRILL_FAILED: &str = "drill.failed";
pub const DRILL_LEFTOVER: &str = "drill.leftover";
pub const DRILL_PLANNED: &str = "drill.planned";
pub const DRILL_SKIPPED: &str = "drill.skipped";
pub const DRILL_MONTH: &str = "drill.month";
pub const NOTIFY_FAILED: &str = "notify.failed";
pub const NOTIFY_HELD: &str = "notify.held";
pub const NOTIFY_SENT: &str = "notify.sent";
pub const RESTORE_COMPLETED: &str = "restore.completed";
pub const RESTORE_FAILED: &str = "restore.failed";
pub const RESTORE_LEFTOVER: &str = "restore.leftover";
pub const RESTORE_PLANNED: &str = "restore.planned";
pub const RESTORE_TABLES_COMPLETED: &str = "restore.tables_completed";
pub const RESTORE_TABLES_FAILED: &str = "restore.tables_failed";
pub const RESTORE_TABLES_PLANNED: &str = "restore.tables_planned";
pub const ROTATE_DELETED: &str = "rotate.deleted";
pub const ROTATE_FAILED: &str = "rotate.failed";
pub const ROTATE_KEPT: &str = "rotate.kept";
pub const ROTATE_PLANNED: &str = "rotate.planned";
pub const ROTATE_RETIRED: &str = "rotate.retired";
pub const ROTATE_PINNED: &str = "rotate.pinned";
pub const ROTATE_SKIPPED: &str = "rotate.skipped";
pub const ROTATE_UNPINNED: &str = "rotate.unpinned";
pub const ROTATE_UNRETIRED: &str = "rotate.unretired";
pub const RUN_FAILED: &str = "run.failed";
pub const RUN_FINISHED: &str = "run.finished";
/// Scratch space (a decrypted set, an unpacked archive) a dead run left, removed.
pub const SCRATCH_REMOVED: &str = "scratch.removed";
/// A restore or drill from a bucket passed over a newer set it cannot restore.
pub const SET_PASSED_OVER: &str = "set.passed_over";
pub const STATUS_DATABASE: &str = "status.database";
pub const STATUS_AUDIT: &str = "status.audit";
pub const STATUS_CONFIG: &str = "status.config";
pub const STATUS_RELOADED: &str = "status.reloaded";
pub const STATUS_PROOF: &str = "status.proof";
pub const STATUS_PROOF_REFUSED: &str = "status.proof_refused";
pub const STATUS_SET: &str = "status.set";
pub const STATUS_SERVING: &str = "status.serving";
pub const UNIT_FAILED: &str = "unit.failed";
pub const VERIFY_FAILED: &str = "verify.failed";
pub const VERIFY_FINDING: &str = "verify.finding";
pub const VERIFY_PASSED: &str = "verify.passed";
pub const VERIFY_STALE: &str = "verify.stale";

/// All of them, sorted.
pub const ALL: [&str; 63] = [
    AUDIT_FINDING,
    AUDIT_SUMMARY,
    BACKUP_COMPLETED,
    BACKUP_FAILED,
    BACKUP_PARTIAL_REMOVED,
    BACKUP_PLANNED,
    BACKUP_REPLAY_RESUMED,
    BACKUP_SPACE_LOW,
    BACKUP_STARTED,
    BUCKET_CHANGED,
    BUCKET_CHECKED,
    BUCKET_FAILED,
    BUCKET_FINDING,
    BUCKET_RESEALED,
    BUCKET_RESTORED,
    CATALOG_CREATED,
    CONFIG_CHANGED,
    COPY_COMPLETED,
    COPY_FAILED,
    COPY_PLANNED,
    COPY_SKIPPED,
    DRILL_COMPLETED,
    DRILL_FAILED,
    DRILL_LEFTOVER,
    DRILL_MONTH,
    DRILL_PLANNED,
    DRILL_SKIPPED,
    NOTIFY_FAILED,
    NOTIFY_HELD,
    NOTIFY_SENT,
    RESTORE_COMPLETED,
    RESTORE_FAILED,
    RESTORE_LEFTOVER,
    RESTORE_PLANNED,
    RESTORE_TABLES_COMPLETED,
    RESTORE_TABLES_FAILED,
    RESTORE_TABLES_PLANNED,
    ROTATE_DELETED,
    ROTATE_FAILED,
    ROTATE_KEPT,
    ROTATE_PINNED,
    ROTATE_PLANNED,
    ROTATE_RETIRED,
    ROTATE_SKIPPED,
    ROTATE_UNPINNED,
    ROTATE_UNRETIRED,
    RUN_FAILED,
    RUN_FINISHED,
    SCRATCH_REMOVED,
    SET_PASSED_OVER,
    STATUS_AUDIT,
    STATUS_CONFIG,
    STATUS_DATABASE,
    STATUS_PROOF,
    STATUS_PROOF_REFUSED,
    STATUS_RELOADED,
    STATUS_SERVING,
    STATUS_SET,
    UNIT_FAILED,
    VERIFY_FAILED,
    VERIFY_FINDING,
    VERIFY_PASSED,
    VERIFY_STALE,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_has_a_schema_and_every_schema_a_name() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schemas/events");
        let mut schemas: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|f| f.strip_suffix(".json").map(str::to_string))
            .collect();
        schemas.sort();
        assert_eq!(schemas, super::ALL);
    }

    /// Schemas stay compatible across minor versions: within an envelope version, a newer
    /// tool may add fields, so no event schema refuses a field it does not name (a consumer
    /// validating with this version's schemas accepts the next minor's lines), and every
    /// event requires the envelope's `v`, `event` or its own name.
    #[test]
    fn every_event_schema_admits_fields_a_newer_minor_version_adds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schemas/events");
        for name in super::ALL {
            let text = std::fs::read_to_string(format!("{dir}/{name}.json")).unwrap();
            let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_ne!(
                schema["additionalProperties"],
                serde_json::Value::Bool(false),
                "{name}: refuses fields a minor version may add"
            );
            assert_eq!(schema["properties"]["event"]["const"], *name, "{name}");
        }
        let envelope: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../docs/schemas/envelope.json"
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            envelope["properties"]["v"]["const"],
            crate::event::SCHEMA_VERSION
        );
    }
}
