class NothingOnOther:
    """A router for a read-only alias: no migrations run on 'other'."""

    def allow_migrate(self, db, app_label, **hints):
        return db != "other"
