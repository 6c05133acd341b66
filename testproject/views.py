from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from testproject.catalog.models import Product


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"products": Product.objects.order_by("name")[:20]})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database readiness, for container health checks."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
