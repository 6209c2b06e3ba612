"""What the runner tells the hooks, which run in Schemathesis's own process: the names of the
environment variables it sets, and the Swagger paths both sides single out. Kept apart from
hooks.py so the runner can name them without importing Schemathesis."""

from __future__ import annotations

SECRET_ENV = "DL_SCHEMATHESIS_SECRET"
TOKEN_ENV = "DL_SCHEMATHESIS_TOKEN"
CONVERSATIONS_ENV = "DL_SCHEMATHESIS_CONVERSATIONS"
ORIGIN_ENV = "DL_SCHEMATHESIS_ORIGIN"
SWAGGER_ENV = "DL_SCHEMATHESIS_SWAGGER"
HOOKS_MODULE = "tests.schemathesis.hooks"

REFRESH_PATH = "/v3/directline/tokens/refresh"
ACTIVITIES_PATH = "/v3/directline/conversations/{conversationId}/activities"
UPLOAD_PATH = "/v3/directline/conversations/{conversationId}/upload"
#: The check hooks.py adds (a response-schema check: never accepted by the baseline).
STORED_CHECK = "stored_activities_conform"
