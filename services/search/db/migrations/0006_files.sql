-- search's files (shared/files.py), where every replica sees them: its part of a deleted tenant's
-- export (shared/tenant_purge.py, keys <tenant>/tenant-export/search/...), written by the purge and
-- kept by it (the operator's copy), not on the pod's data directory, which goes with the pod.
-- The same shape as identity.files (0005): a row plus its bytes in chunks of about 1 MiB, visible
-- once complete. With HUIKE_FILE_STORE=s3 the bytes are objects under search/ in the bucket instead.
SELECT huike.create_file_tables('search');
