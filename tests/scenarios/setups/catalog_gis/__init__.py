"""catalog 0001-0005 as in the testproject, then a PointField and a data migration that writes and reads
a geometry through the default manager (PostGIS's type adapters, whose OIDs it caches per alias)."""
