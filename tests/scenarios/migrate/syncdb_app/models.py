from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)
    products = models.ManyToManyField("catalog.Product")

    def __str__(self) -> str:
        return self.text
