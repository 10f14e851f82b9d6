// Type-checked (tsc --strict --noEmit) against the types openapi-typescript
// generates from the served document (scripts/clients.sh writes them to
// generated/schema.d.ts, not committed). It fails when the document stops
// giving a generator usable types: a custom credential or a metadata object
// that cannot be written, a recursive schema, a nullable header.
import type { components, paths } from "../generated/schema";

type Schemas = components["schemas"];

// A service with metadata of nested, mixed values.
const metadata: Schemas["Metadata"] = { team: "billing", limits: { daily: [1, 2.5, null, true] } };
const create: Schemas["ServiceCreate"] = {
  name: "Stripe",
  type: "payment",
  base_url: "https://api.stripe.com/v1",
  metadata,
};
const createWithCredential: Schemas["ServiceWithApiKeyCredential"] = {
  name: "Stripe",
  type: "payment",
  base_url: "https://api.stripe.com/v1",
  auth_type: "api_key",
  credentials: { key: "sk_test_123", header_name: "X-API-Key" },
};

// One credential of each auth_type, the custom one with arbitrary members.
const credentials: Schemas["CredentialWrite"][] = [
  { auth_type: "api_key", credentials: { key: "k", query_param: "api_key" } },
  { auth_type: "basic", credentials: { username: "u", password: "p" } },
  { auth_type: "bearer", credentials: { token: "t" }, expires_at: "2027-01-01T00:00:00Z" },
  {
    auth_type: "oauth2_client_credentials",
    credentials: {
      client_id: "id",
      client_secret: "secret",
      token_url: "https://auth.example.com/oauth/token",
      scopes: ["read"],
    },
  },
  { auth_type: "custom", credentials: { region: "eu", nested: { any: ["thing", 1, null] } }, expires_at: null },
];

// A merge patch may null optional fields.
const patch: Schemas["ServicePatch"] = { description: null, metadata: { tier: "gold" } };

// Responses: always-present fields are required (no `?`), nullable ones typed so.
function describe(service: Schemas["Service"]): string {
  const version: number = service.version;
  const apiVersion: string | null = service.api_version;
  const authType: Schemas["AuthType"] | null = service.auth_type;
  const team: unknown = service.metadata["team"];
  return `${service.name} v${version} ${apiVersion ?? "-"} ${authType ?? "none"} ${String(team)}`;
}
function nextPage(list: Schemas["ServiceList"]): string | null {
  return list.next_cursor;
}
function secret(credential: Schemas["Credential"]): unknown {
  return credential.credentials["key"];
}
function errorCode(body: Schemas["ErrorResponse"]): string {
  const details: unknown = body.error.details["fields"];
  return `${body.error.code} ${String(details)}`;
}

// Header parameters are plain strings (a generator must not send `null`).
type CreateHeaders = NonNullable<paths["/api/v1/services"]["post"]["parameters"]["header"]>;
const headers: CreateHeaders = { "Idempotency-Key": "retry-42" };
type PatchHeaders = NonNullable<paths["/api/v1/services/{id}"]["patch"]["parameters"]["header"]>;
const ifMatch: PatchHeaders = { "If-Match": "\"1\"" };
// @ts-expect-error: the header is a string, never null
const nullKey: CreateHeaders = { "Idempotency-Key": null };

export { create, createWithCredential, credentials, patch, describe, nextPage, secret, errorCode, headers, ifMatch, nullKey };
