"""The OpenAPI document's promises that need no server: every error in
Parley's shape, the statuses the request limits can answer on every
operation, 401 wherever a token is needed, and links that name real
operations and parameters. tests/contract checks the rest against a real app."""

from __future__ import annotations

from typing import Any

import pytest

from parley.app import create_app
from parley.openapi import EVERY_OPERATION
from parley.settings import load_settings

ERROR_BODY = "#/components/schemas/ErrorBody"
ANONYMOUS = {("post", "/api/auth/register"), ("post", "/api/auth/login")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as env:
        env.chdir("/")  # no stray .env
        env.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/parley")
        env.setenv("MONGO_URL", "mongodb://mongo.example:27017/parley")
        env.setenv("PARLEY_JWT_SECRET", "x" * 32)
        openapi: dict[str, Any] = create_app(load_settings()).openapi()
        return openapi


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_bearer_scheme_is_declared(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")


def test_every_error_answer_is_an_error_body(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) < 400 or path == "/api/health":
                continue
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_BODY}, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_limits_statuses_are_on_every_operation(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        expected = {str(status) for status in EVERY_OPERATION}
        if path == "/api/metrics":  # never shed, no store behind it
            expected.discard("503")
        assert expected <= set(operation["responses"]), (method, path)


def test_operations_that_need_a_token_list_401(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        if operation.get("security"):
            assert "401" in operation["responses"], (method, path)
            assert operation["security"] == [{"bearer": []}], (method, path)


def test_only_sign_in_and_health_need_no_token(document: dict[str, Any]) -> None:
    anonymous = {
        (method, path)
        for path, method, operation in operations(document)
        if not operation.get("security")
    }
    assert anonymous == ANONYMOUS | {("get", "/api/health"), ("get", "/api/metrics")}


def test_links_name_real_operations_and_their_parameters(document: dict[str, Any]) -> None:
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    seen = 0
    for path, method, operation in operations(document):
        for answer in operation["responses"].values():
            for name, link in answer.get("links", {}).items():
                target = by_id[link["operationId"]]
                names = {parameter["name"] for parameter in target.get("parameters", [])}
                assert set(link["parameters"]) <= names, (method, path, name)
                seen += 1
    assert seen > 0
