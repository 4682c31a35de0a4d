-- Applied after every migration run.
GRANT EXECUTE ON FUNCTION search.merge_pending_index_entries() TO {app_role};
