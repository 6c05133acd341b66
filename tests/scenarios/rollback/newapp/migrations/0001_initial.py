import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("catalog", "0006_review")]

    operations = [
        migrations.CreateModel(
            name="Shelf",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("label", models.CharField(max_length=50)),
                ("review", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, to="catalog.review")),
            ],
        ),
    ]
