"""Connection setups real projects have, for safe_migrate, --rehearse and rollback_release run in a
subprocess on a database of their own: contrib.postgres, a connection_created receiver that runs a
query on every connection, PostGIS's backend, Django's connection pool on PostgreSQL."""
