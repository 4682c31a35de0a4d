-- Applied after every migration run. The audit log is append-only for the runtime role.
REVOKE UPDATE, DELETE, TRUNCATE ON records.audit_log FROM {app_role};
