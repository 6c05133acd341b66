"""Drops a NOT NULL column whose default lives only in Python (stars, default 5): reversing it puts
the column back NOT NULL without a database default, so every insert by the new code (which no longer
knows it) fails until the old image is back, and the existing rows get 5."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_review")]

    operations = [migrations.RemoveField(model_name="review", name="stars")]
