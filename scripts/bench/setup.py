"""Setup steps of scripts/bench.sh that go through the API.

credentials BASE IDS TOKENS OUT N  -- PUT a bearer credential on N services
    (spread over the tenants of IDS) and write their "id tenant" lines to OUT.
bindings BASE TOKENS               -- in every tenant of TOKENS, a role reading
    services of type payment, bound to client id bench-worker and to 9
    other subjects (so each replica's copy of a tenant is not trivial).
usage BASE TOKENS UPSTREAM OUT_PROXY OUT_OAUTH -- in every tenant of TOKENS,
    a service at UPSTREAM with a bearer credential (for the proxy) and one
    with an oauth2_client_credentials credential whose token_url is
    UPSTREAM/token (for the broker); their "id tenant" lines go to the files.
cursor BASE TOKEN ROWS             -- walk a tenant's listing 100 at a time until
    ROWS rows are behind, print the next_cursor there.
"""
import json
import sys
import urllib.request


def call(method, url, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


def credentials(base, ids_file, tokens_file, out_file, n):
    tokens = [line.strip() for line in open(tokens_file)]
    by_tenant = {}
    for line in open(ids_file):
        service_id, tenant = line.split()
        by_tenant.setdefault(int(tenant), []).append(service_id)
    per_tenant = max(1, n // len(by_tenant))
    written = []
    for tenant, service_ids in sorted(by_tenant.items()):
        for service_id in service_ids[:per_tenant]:
            status, _ = call(
                "PUT",
                f"{base}/api/v1/services/{service_id}/credentials",
                tokens[tenant],
                {"auth_type": "bearer", "credentials": {"token": f"secret-{service_id}"}},
            )
            if status not in (200, 201):
                sys.exit(f"PUT credentials answered {status}")
            written.append(f"{service_id} {tenant}\n")
    with open(out_file, "w") as out:
        out.writelines(written)


def bindings(base, tokens_file):
    for token in (line.strip() for line in open(tokens_file)):
        status, _ = call("POST", f"{base}/api/v1/roles", token, {
            "name": "bench-reader",
            "permissions": ["external-service:read"],
            "services": {"types": ["payment"]},
        })
        if status != 201:
            sys.exit(f"POST role answered {status}")
        for subject in ["bench-worker"] + [f"other-{i}" for i in range(9)]:
            status, _ = call("POST", f"{base}/api/v1/role-bindings", token, {
                "role": "bench-reader",
                "subject": {"type": "client_id", "value": subject},
            })
            if status != 201:
                sys.exit(f"POST role binding answered {status}")


def usage(base, tokens_file, upstream, out_proxy, out_oauth):
    tokens = [line.strip() for line in open(tokens_file)]
    kinds = {
        out_proxy: {"auth_type": "bearer", "credentials": {"token": "bench-secret"}},
        out_oauth: {"auth_type": "oauth2_client_credentials", "credentials": {
            "client_id": "bench", "client_secret": "bench-secret",
            "token_url": f"{upstream}/token"}},
    }
    for out_file, credential in kinds.items():
        written = []
        for tenant, token in enumerate(tokens):
            body = {"name": f"upstream {credential['auth_type']}", "type": "bench",
                    "base_url": upstream, **credential}
            status, service = call("POST", f"{base}/api/v1/services", token, body)
            if status != 201:
                sys.exit(f"POST service answered {status}")
            written.append(f"{service['id']} {tenant}\n")
        with open(out_file, "w") as out:
            out.writelines(written)


def cursor(base, token, rows):
    behind, next_cursor = 0, None
    while behind < rows:
        url = f"{base}/api/v1/services?limit=100"
        if next_cursor:
            url += "&cursor=" + next_cursor
        status, page = call("GET", url, token)
        if status != 200 or not page["next_cursor"]:
            sys.exit(f"listing stopped after {behind} rows (status {status})")
        behind += len(page["services"])
        next_cursor = page["next_cursor"]
    print(next_cursor)


if __name__ == "__main__":
    if sys.argv[1] == "credentials":
        credentials(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif sys.argv[1] == "bindings":
        bindings(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "usage":
        usage(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
    elif sys.argv[1] == "cursor":
        cursor(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
