"""A user's flow through the Python client generated from the served document.

Run by scripts/clients.sh with the generated package `exsvc_client` on
PYTHONPATH and EXSVC_BASE_URL / EXSVC_TOKEN in the environment. Every request
goes through the generated client alone (no hand-written HTTP), so the flow
fails when the document stops describing the API a generator can use:
a model that does not import, a body it cannot build, a response it cannot
parse.
"""

import datetime
import os
import sys
import uuid

from exsvc_client import AuthenticatedClient
from exsvc_client.api.audit import list_audit_events
from exsvc_client.api.credentials import (
    delete_credentials,
    get_credentials,
    list_credential_versions,
    put_credentials,
)
from exsvc_client.api.services import (
    create_service,
    delete_service,
    get_service,
    list_services,
    patch_service,
    replace_service,
)
from exsvc_client.models import (
    ApiKeyCredentials,
    ApiKeyCredentialWrite,
    AuthType,
    BasicCredentials,
    BasicCredentialWrite,
    BearerCredentials,
    BearerCredentialWrite,
    Credential,
    CredentialMeta,
    CustomCredentials,
    CustomCredentialWrite,
    ErrorResponse,
    ListAuditEventsAction,
    Metadata,
    OAuth2ClientCredentials,
    OAuth2ClientCredentialsTokenAuthMethod,
    OAuth2ClientCredentialsWrite,
    Service,
    ServicePatch,
    ServiceStatus,
    ServiceWithBearerCredential,
    ServiceWrite,
)

steps = 0


def check(condition, what):
    """An assertion that names the step (and survives `python -O`)."""
    global steps
    steps += 1
    if not condition:
        sys.exit(f"flow: FAILED: {what}")


def error_code(response, status):
    """The `error.code` of a refusal, parsed by the client as ErrorResponse."""
    check(response.status_code == status, f"expected {status}, got {response.status_code}")
    check(isinstance(response.parsed, ErrorResponse), f"a {status} parses as ErrorResponse")
    return response.parsed.error.code


base_url = os.environ["EXSVC_BASE_URL"]
client = AuthenticatedClient(base_url=base_url, token=os.environ["EXSVC_TOKEN"])
run = uuid.uuid4().hex[:10]
kind = f"flow.{run}"  # a type of this run only, so the listing is ours alone

# Create: one service with metadata, one with its first credential, one plain.
first = create_service.sync_detailed(
    client=client,
    idempotency_key=f"flow-{run}-a",
    body=ServiceWrite(
        name=f"Flow {run} A",
        type_=kind,
        base_url="https://api.example.com/v1",
        description="Card payments",
        metadata=Metadata.from_dict({"team": "billing", "limits": {"daily": [1, 2.5, None, True]}}),
    ),
)
check(first.status_code == 201, f"create: {first.status_code} {first.content!r}")
service = first.parsed
check(isinstance(service, Service), "create parses as Service")
check(first.headers.get("etag") == '"1"', "create: ETag \"1\"")
check(first.headers.get("location", "").endswith(f"/api/v1/services/{service.id}"), "create: Location")
check(service.version == 1 and service.auth_type is None, "a new service has no credential")
check(service.metadata.to_dict()["limits"] == {"daily": [1, 2.5, None, True]}, "metadata round trip")
sid = str(service.id)

# The same Idempotency-Key and body replays the first answer.
replay = create_service.sync_detailed(
    client=client,
    idempotency_key=f"flow-{run}-a",
    body=ServiceWrite.from_dict(
        {
            "name": f"Flow {run} A",
            "type": kind,
            "base_url": "https://api.example.com/v1",
            "description": "Card payments",
            "metadata": {"team": "billing", "limits": {"daily": [1, 2.5, None, True]}},
        }
    ),
)
check(replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true", "replay")
check(replay.parsed.id == service.id, "the replay names the same service")

with_credential = create_service.sync(
    client=client,
    body=ServiceWithBearerCredential(
        name=f"Flow {run} B",
        type_=kind,
        base_url="https://api.example.com/v1",
        auth_type="bearer",
        credentials=BearerCredentials(token="tok_flow"),
    ),
)
check(isinstance(with_credential, Service), "create with a credential")
check(with_credential.auth_type == AuthType.BEARER, "its auth_type is bearer")

third = create_service.sync(
    client=client,
    body=ServiceWrite(name=f"Flow {run} C", type_=kind, base_url="https://api.example.com/v1"),
)
check(isinstance(third, Service), "create a third")

taken = create_service.sync_detailed(
    client=client,
    body=ServiceWrite(name=f"flow {run} a", type_=kind, base_url="https://api.example.com/v1"),
)
check(error_code(taken, 409) == "SERVICE_ALREADY_EXISTS", "a taken name (ignoring case) is 409")

# Get.
got = get_service.sync_detailed(sid, client=client)
check(got.status_code == 200 and got.parsed.name == f"Flow {run} A", "get")
check(got.headers.get("etag") == '"1"', "get: ETag")

# List and page: newest first, two then one.
page = list_services.sync(client=client, type_=kind, limit=2)
check(len(page.services) == 2 and page.next_cursor, "page 1: two services and a cursor")
check(page.services[0].id == third.id, "newest first")
rest = list_services.sync(client=client, type_=kind, limit=2, cursor=page.next_cursor)
check(len(rest.services) == 1 and rest.next_cursor is None, "page 2: the last one, no cursor")
listed = {s.id for s in page.services + rest.services}
check(listed == {service.id, with_credential.id, third.id}, "every page together: our three")
filtered = list_services.sync(client=client, type_=kind, q=f"{run} b", status=ServiceStatus.ACTIVE)
check([s.id for s in filtered.services] == [with_credential.id], "q and status filters")
bad = list_services.sync_detailed(client=client, limit=500)
check(error_code(bad, 400) == "VALIDATION_ERROR", "limit 500 is 400")

# PATCH with If-Match; a stale tag is 412 and changes nothing.
patched = patch_service.sync_detailed(
    sid,
    client=client,
    if_match='"1"',
    body=ServicePatch(description="Card payments and refunds", metadata=Metadata.from_dict({"tier": "gold"})),
)
check(patched.status_code == 200, f"patch: {patched.status_code} {patched.content!r}")
check(patched.parsed.version == 2 and patched.headers.get("etag") == '"2"', "patch bumps the version")
check(patched.parsed.metadata.to_dict()["tier"] == "gold", "metadata merged")
check(patched.parsed.metadata.to_dict()["team"] == "billing", "other metadata kept")
stale = patch_service.sync_detailed(sid, client=client, if_match='"1"', body=ServicePatch(description="x"))
check(error_code(stale, 412) == "PRECONDITION_FAILED", "stale If-Match is 412")

# PUT replaces every writable field; omitted ones take their defaults.
replaced = replace_service.sync(
    sid,
    client=client,
    if_match='"2"',
    body=ServiceWrite(
        name=f"Flow {run} A",
        type_=kind,
        base_url="https://api.example.com/v2",
        status=ServiceStatus.INACTIVE,
        api_version="2024-06-20",
    ),
)
check(isinstance(replaced, Service) and replaced.version == 3, "put")
check(replaced.status == ServiceStatus.INACTIVE and replaced.base_url.endswith("/v2"), "put fields")
check(replaced.description == "" and replaced.metadata.to_dict() == {}, "put: omitted fields default")
check(replaced.api_version == "2024-06-20", "put: api_version")

# A credential of each auth_type, each read back.
expires = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
writes = [
    (
        ApiKeyCredentialWrite(auth_type="api_key", credentials=ApiKeyCredentials(key="sk_flow", header_name="X-Flow-Key")),
        {"key": "sk_flow", "header_name": "X-Flow-Key"},
    ),
    (
        BasicCredentialWrite(auth_type="basic", credentials=BasicCredentials(username="u", password="p")),
        {"username": "u", "password": "p"},
    ),
    (
        BearerCredentialWrite(auth_type="bearer", credentials=BearerCredentials(token="tok")),
        {"token": "tok"},
    ),
    (
        OAuth2ClientCredentialsWrite(
            auth_type="oauth2_client_credentials",
            credentials=OAuth2ClientCredentials(
                client_id="id",
                client_secret="secret",
                token_url="https://auth.example.com/oauth/token",
                scopes=["read", "write"],
                audience="https://api.example.com",
                token_auth_method=OAuth2ClientCredentialsTokenAuthMethod.CLIENT_SECRET_POST,
            ),
        ),
        {
            "client_id": "id",
            "client_secret": "secret",
            "token_url": "https://auth.example.com/oauth/token",
            "scopes": ["read", "write"],
            "audience": "https://api.example.com",
            "token_auth_method": "client_secret_post",
        },
    ),
    (
        CustomCredentialWrite(
            auth_type="custom",
            credentials=CustomCredentials.from_dict({"region": "eu", "keys": {"a": 1, "b": [True, None]}}),
            expires_at=expires,
        ),
        {"region": "eu", "keys": {"a": 1, "b": [True, None]}},
    ),
]
for number, (body, plaintext) in enumerate(writes, start=1):
    put = put_credentials.sync_detailed(sid, client=client, body=body, idempotency_key=f"flow-{run}-cred-{number}")
    check(put.status_code == (201 if number == 1 else 200), f"put {body.auth_type}: {put.status_code} {put.content!r}")
    check(isinstance(put.parsed, CredentialMeta) and put.parsed.version == number, f"put {body.auth_type}: version")
    check(put.parsed.auth_type.value == body.auth_type, f"put {body.auth_type}: auth_type")
    read = get_credentials.sync_detailed(sid, client=client)
    check(read.status_code == 200 and read.headers.get("cache-control") == "no-store", f"read {body.auth_type}")
    check(isinstance(read.parsed, Credential), f"read {body.auth_type} parses")
    check(read.parsed.credentials.to_dict() == plaintext, f"read {body.auth_type}: the secret as written")
    check(read.parsed.version == number and read.parsed.service_name == f"Flow {run} A", f"read {body.auth_type}: metadata")
    if body.auth_type == "oauth2_client_credentials":
        # The typed model reads the enum back, not only the raw dict.
        typed = OAuth2ClientCredentials.from_dict(read.parsed.credentials.to_dict())
        check(
            typed.token_auth_method == OAuth2ClientCredentialsTokenAuthMethod.CLIENT_SECRET_POST,
            "read oauth2: token_auth_method client_secret_post",
        )
check(read.parsed.expires_at == expires, "expires_at round trip")
check(get_service.sync(sid, client=client).auth_type == AuthType.CUSTOM, "the service names its credential")

# Versions, newest first, and an earlier one by number.
versions = list_credential_versions.sync(sid, client=client)
check([v.version for v in versions.versions] == [5, 4, 3, 2, 1], "versions newest first")
check([v.current for v in versions.versions] == [True, False, False, False, False], "one current")
old = get_credentials.sync(sid, client=client, version=1)
check(isinstance(old, Credential) and old.auth_type == AuthType.API_KEY, "?version=1")
check(old.credentials.to_dict() == writes[0][1], "?version=1: its secret")
missing = get_credentials.sync_detailed(sid, client=client, version=99)
check(error_code(missing, 404) == "CREDENTIALS_NOT_FOUND", "a version never written is 404")

# The audit trail recorded the reads and writes.
reads = list_audit_events.sync(client=client, service_id=service.id, action=ListAuditEventsAction.CREDENTIALS_READ)
check(len(reads.events) == 6, f"six reads recorded (five current, one by number), found {len(reads.events)}")
check(all(e.outcome == "success" and e.service_id == service.id for e in reads.events), "read events")
everything = list_audit_events.sync(client=client, service_id=service.id, limit=100)
actions = {e.action for e in everything.events}
check({"service.create", "service.update", "credentials.write", "credentials.read"} <= actions, f"actions: {actions}")

# Deletes; then the errors parse as the error model.
gone = delete_credentials.sync_detailed(sid, client=client)
check(gone.status_code == 204, "delete credentials")
after = get_credentials.sync_detailed(sid, client=client)
check(error_code(after, 404) == "CREDENTIALS_NOT_FOUND", "no credential after delete")
for s in (service, with_credential, third):
    deleted = delete_service.sync_detailed(str(s.id), client=client)
    check(deleted.status_code == 204, f"delete {s.name}")
lost = get_service.sync_detailed(sid, client=client)
check(error_code(lost, 404) == "SERVICE_NOT_FOUND", "a deleted service is 404")
check(sid in lost.parsed.error.message, "the 404 names the id")
check(lost.headers.get("x-request-id"), "errors carry X-Request-Id")
empty = list_services.sync(client=client, type_=kind)
check(empty.services == [] and empty.next_cursor is None, "nothing left")

print(f"flow: {steps} checks passed against {base_url}")
