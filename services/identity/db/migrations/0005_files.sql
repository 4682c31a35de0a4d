-- Identity's files (shared/files.py), where every replica sees them: the export of a tenant's
-- identity data written when its deletion is scheduled and again, final, just before the purge
-- (domain/tenants.py). Not the pod's data directory: the replica that wrote it may not be the one
-- an operator asks, and a pod's disk goes with the pod. The same shape as records.files (0013):
-- a row plus its bytes in chunks of about 1 MiB, visible once ``complete``. With HUIKE_FILE_STORE=s3
-- the bytes are objects under ``identity/`` in the bucket instead.
-- The purge of a tenant leaves these rows: the export is what the operator keeps of the tenant.
SELECT huike.create_file_tables('identity');
