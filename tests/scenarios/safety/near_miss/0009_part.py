from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0008_gadget_sku_color")]

    operations = [
        migrations.CreateModel(
            name="Part",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=20)),
                ("gadget", models.ForeignKey(on_delete=models.deletion.CASCADE, to="catalog.gadget")),
            ],
        ),
        migrations.AddField(
            model_name="part", name="code", field=models.CharField(max_length=20, default="x"), preserve_default=False
        ),
        migrations.AddIndex(model_name="part", index=models.Index(fields=["name"], name="part_name_idx")),
        migrations.AddConstraint(
            model_name="part", constraint=models.UniqueConstraint(fields=["code"], name="part_code_uniq")
        ),
        migrations.AlterField(model_name="part", name="name", field=models.IntegerField(default=0)),
    ]
