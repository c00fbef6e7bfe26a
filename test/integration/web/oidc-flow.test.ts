import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  beginSignIn,
  completeSignIn,
  discover,
  type KeyValueStorage,
  OidcError,
  PENDING_KEY,
} from "../../../web/src/auth/oidc.ts";

// The console's authorization code flow with PKCE against an identity provider stub on 127.0.0.1:
// discovery, the authorize redirect (the user consents at once) and the token exchange, where the
// stub checks the verifier against the challenge it was given, as a real provider does.

const CLIENT_ID = "teamstack-console";
const REDIRECT = "https://console.example/";

interface Grant {
  readonly challenge: string;
  readonly method: string;
  readonly nonce: string;
  readonly redirectUri: string;
  readonly clientId: string;
  used: boolean;
}

let server: Server;
let issuer: string;
const grants = new Map<string, Grant>();
/** What the stub does to the ID token it issues, per test. */
let tamper: (claims: Record<string, unknown>) => Record<string, unknown> = (c) => c;
const tokenRequests: URLSearchParams[] = [];

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    // Every path answers with the root issuer's document: one at `/other` is of another issuer.
    if (url.pathname.endsWith("/.well-known/openid-configuration")) {
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        code_challenge_methods_supported: ["S256"],
      });
    }
    if (url.pathname === "/authorize") {
      const p = url.searchParams;
      const code = randomBytes(16).toString("hex");
      grants.set(code, {
        challenge: p.get("code_challenge") ?? "",
        method: p.get("code_challenge_method") ?? "",
        nonce: p.get("nonce") ?? "",
        redirectUri: p.get("redirect_uri") ?? "",
        clientId: p.get("client_id") ?? "",
        used: false,
      });
      const back = new URL(p.get("redirect_uri") ?? "");
      back.searchParams.set("code", code);
      back.searchParams.set("state", p.get("state") ?? "");
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      let body = "";
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      tokenRequests.push(form);
      const grant = grants.get(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      if (
        !grant ||
        grant.used ||
        form.get("grant_type") !== "authorization_code" ||
        grant.method !== "S256" ||
        challenge !== grant.challenge ||
        form.get("redirect_uri") !== grant.redirectUri ||
        form.get("client_id") !== grant.clientId
      ) {
        return json(400, { error: "invalid_grant", error_description: "the code or verifier is wrong" });
      }
      grant.used = true;
      const now = Math.floor(Date.now() / 1000);
      const claims = tamper({
        iss: issuer,
        aud: grant.clientId,
        sub: "alice",
        nonce: grant.nonce,
        iat: now,
        exp: now + 3600,
        "teamstack:team": "acme",
      });
      return json(200, {
        id_token: `${b64({ alg: "RS256" })}.${b64(claims)}.signature`,
        token_type: "Bearer",
      });
    }
    json(404, { error: "not_found" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

function memoryStorage(): KeyValueStorage & { readonly items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, v),
    removeItem: (k) => void items.delete(k),
  };
}

/** Follows the authorization URL as the browser would, the user consenting: the redirect back. */
async function consent(authorizeUrl: string): Promise<string> {
  const res = await fetch(authorizeUrl, { redirect: "manual" });
  expect(res.status).toBe(302);
  return res.headers.get("location") as string;
}

const client = () => ({ issuer, clientId: CLIENT_ID, scope: "openid email", redirectUri: REDIRECT });

describe("the authorization code flow with PKCE", () => {
  it("signs in: S256 challenge, state and nonce sent; the code and verifier traded for the ID token", async () => {
    tamper = (c) => c;
    const storage = memoryStorage();
    const authorize = new URL(await beginSignIn(client(), storage));
    expect(authorize.origin + authorize.pathname).toBe(`${issuer}/authorize`);
    const p = authorize.searchParams;
    expect(p.get("response_type")).toBe("code");
    expect(p.get("client_id")).toBe(CLIENT_ID);
    expect(p.get("redirect_uri")).toBe(REDIRECT);
    expect(p.get("scope")).toBe("openid email");
    expect(p.get("code_challenge_method")).toBe("S256");
    expect(p.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The verifier never leaves the browser before the exchange.
    const pending = JSON.parse(storage.items.get(PENDING_KEY) as string) as { verifier: string };
    expect(authorize.toString()).not.toContain(pending.verifier);

    const back = await consent(authorize.toString());
    const session = await completeSignIn(back, storage);
    expect(session.claims).toMatchObject({ sub: "alice", aud: CLIENT_ID, "teamstack:team": "acme" });
    expect(session.token.split(".")).toHaveLength(3);
    expect(Date.parse(session.expiresAt)).toBeGreaterThan(Date.now());
    expect(tokenRequests.at(-1)?.get("code_verifier")).toBe(pending.verifier);
    expect(storage.items.has(PENDING_KEY)).toBe(false);
    // The same answer again: the pending sign-in is used up.
    await expect(completeSignIn(back, storage)).rejects.toThrow("no sign-in was started");
  });

  it("refuses an answer whose state is not the one sent, without calling the token endpoint", async () => {
    const storage = memoryStorage();
    const back = new URL(await consent(await beginSignIn(client(), storage)));
    back.searchParams.set("state", "forged");
    const before = tokenRequests.length;
    await expect(completeSignIn(back.toString(), storage)).rejects.toThrow("state does not match");
    expect(tokenRequests.length).toBe(before);
  });

  it("refuses an ID token with another nonce, issuer or audience, or expired", async () => {
    const cases: [string, (c: Record<string, unknown>) => Record<string, unknown>][] = [
      ["nonce does not match", (c) => ({ ...c, nonce: "replayed" })],
      ["from issuer", (c) => ({ ...c, iss: "https://evil.example" })],
      ["not for this console", (c) => ({ ...c, aud: "another-client" })],
      ["has expired", (c) => ({ ...c, exp: Math.floor(Date.now() / 1000) - 10 })],
    ];
    for (const [message, change] of cases) {
      tamper = change;
      const storage = memoryStorage();
      const back = await consent(await beginSignIn(client(), storage));
      await expect(completeSignIn(back, storage), message).rejects.toThrow(message);
    }
    tamper = (c) => c;
  });

  it("fails the exchange when the verifier is not the one the challenge was made from", async () => {
    const storage = memoryStorage();
    const back = await consent(await beginSignIn(client(), storage));
    const pending = JSON.parse(storage.items.get(PENDING_KEY) as string) as Record<string, unknown>;
    storage.setItem(PENDING_KEY, JSON.stringify({ ...pending, verifier: "x".repeat(43) }));
    await expect(completeSignIn(back, storage)).rejects.toThrow("invalid_grant");
  });

  it("says what the provider refused, and refuses a discovery document of another issuer", async () => {
    const storage = memoryStorage();
    await beginSignIn(client(), storage);
    await expect(
      completeSignIn(`${REDIRECT}?error=access_denied&error_description=no+thanks&state=s`, storage),
    ).rejects.toThrow("the identity provider refused: access_denied (no thanks)");
    await expect(discover(`${issuer}/other`)).rejects.toThrow(OidcError);
    await expect(discover(`${issuer}/other`)).rejects.toThrow(`is for issuer \`${issuer}\``);
    await expect(discover("http://example.com")).rejects.toThrow("must be an https URL");
  });
});
