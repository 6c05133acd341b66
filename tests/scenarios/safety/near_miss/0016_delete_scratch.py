from django.db import migrations

# The release ends without Scratch: reversing 0014 and 0015 drops nothing the new code uses.


class Migration(migrations.Migration):
    dependencies = [("catalog", "0015_scratch_extra")]

    operations = [
        migrations.DeleteModel("Scratch"),
    ]
