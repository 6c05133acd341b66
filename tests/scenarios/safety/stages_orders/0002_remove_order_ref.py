import dataclasses
import enum

from django.db import migrations

# django-safemigrate's spelling (its Safe and When, restated so that the package need not be
# installed): the analysis says post (a RemoveField), the declaration says before the deploy.


class When(enum.Enum):
    ALWAYS = "always"
    BEFORE_DEPLOY = "before_deploy"
    AFTER_DEPLOY = "after_deploy"


@dataclasses.dataclass
class Safe:
    when: When

    @classmethod
    def before_deploy(cls):
        return cls(when=When.BEFORE_DEPLOY)


class Migration(migrations.Migration):
    safe = Safe.before_deploy()
    dependencies = [("orders", "0001_initial")]

    operations = [
        migrations.RemoveField(model_name="order", name="ref"),
    ]
