from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0008_shelf_shares_store")]

    operations = [
        migrations.AddField(model_name="shelf", name="code", field=models.CharField(max_length=10, default="x")),
        migrations.AddIndex(model_name="shelf", index=models.Index(fields=["name"], name="catalog_shelf_name_idx")),
    ]
