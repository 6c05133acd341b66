from django.contrib import admin

from testproject.accounts import models

admin.site.register(models.Customer)
