"""A reviewer for the API tests: an account with a role and an API client already authenticated as it."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from webapp.roles import DERMATOLOGIST, grant_role
from webapp.tests.browser_login import TEST_PASSWORD


def reviewer(name: str, role: str = DERMATOLOGIST):
    """(user, client): ``name`` with ``role`` (the dermatologist's by default), and a client logged in as them."""
    user = get_user_model().objects.create_user(username=name, password=TEST_PASSWORD)
    grant_role(user, role)
    client = APIClient()
    client.force_authenticate(user)
    return user, client
