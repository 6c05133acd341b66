from django.contrib import admin

from testproject.catalog import models

admin.site.register(models.Product)
