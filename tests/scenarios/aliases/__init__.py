"""Settings with extra aliases on the test database, for tests that run manage.py in a subprocess (the
test case of pytest-django refuses aliases it did not set up)."""
