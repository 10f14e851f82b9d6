"""Fixed workload for the callgrind comparison: one keep-alive connection,
phases separated by a command (a callgrind dump). Every answer must be 200."""
import http.client, json, subprocess, sys, random

host, port, workdir, between = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
counts = dict(a.split("=") for a in sys.argv[5:])
tokens = [l.strip() for l in open(f"{workdir}/tokens")]
big = open(f"{workdir}/big_token").read().strip()
deep = open(f"{workdir}/deep_cursor").read().strip()
ids = [l.split() for l in open(f"{workdir}/ids")]
conn = http.client.HTTPConnection(host, port)

def get(path, token):
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"{path}: {r.status} {body[:300]!r}")
    return body

def by_id(i):
    sid, tenant = ids[i % len(ids)]
    get(f"/api/v1/services/{sid}", tokens[int(tenant)])

phases = {
    "get": lambda i: by_id(i),
    "list20": lambda i: get("/api/v1/services?limit=20", tokens[0]),
    "list100": lambda i: get("/api/v1/services?limit=100", tokens[0]),
    "deep20": lambda i: get(f"/api/v1/services?limit=20&cursor={deep}", big),
    "big20": lambda i: get("/api/v1/services?limit=20", big),
}
# Warm-up: every token verified once (the verifier caches), each route served.
seen = set()
for i, (sid, tenant) in enumerate(ids):
    if tenant not in seen:
        seen.add(tenant)
        get(f"/api/v1/services/{sid}", tokens[int(tenant)])
for name in phases:
    for i in range(20):
        phases[name](i + 5000)
subprocess.run(between.format("warmup"), shell=True, check=True)
for name, n in counts.items():
    for i in range(int(n)):
        phases[name](i)
    subprocess.run(between.format(name), shell=True, check=True)
print("ok", counts)
