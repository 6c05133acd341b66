import enum

from django.db import migrations, models

# django-syzygy's spelling (its Stage enum, restated so that the package need not be installed):
# the analysis says blocked (NOT NULL without a database default), the declaration says post.


class Stage(enum.Enum):
    PRE_DEPLOY = "pre_deploy"
    POST_DEPLOY = "post_deployment"


class Migration(migrations.Migration):
    stage = Stage.POST_DEPLOY
    dependencies = [("orders", "0002_remove_order_ref")]

    operations = [
        migrations.AddField(model_name="order", name="note", field=models.CharField(max_length=20, default="")),
    ]
