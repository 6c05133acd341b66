from django.contrib import admin

from testproject.orders import models

admin.site.register(models.Order)
