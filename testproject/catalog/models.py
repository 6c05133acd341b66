from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(null=True, blank=True)  # noqa: DJ001 (filled by a data migration)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["name"], name="catalog_product_name_idx")]

    def __str__(self) -> str:
        return self.name
