import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resolverResolve } from "../../../src/hooks/egress.ts";
import type { HookRequest } from "../../../src/ports/hook.ts";
import { hookRequest, type RecordingServer, runnerFor } from "../hooks/recording-server.ts";
import { type DnsServer, startDnsServer } from "./dns-server.ts";
import { ALLOWED_HOST, type SsrfTargets, startSsrfTargets } from "./sentinel.ts";

// The SSRF corpus: a member's template points a webhook (or a Slack webhook_url) at an address
// the host or its network must not be reached on. The operator allows exactly one range,
// 127.0.0.3/32, where the allowed test server listens; a sentinel listens on 127.0.0.1 (and ::1)
// at the same port and counts connections: every refused target that leads to loopback must
// leave it at zero. Names resolve through a real DNS server on 127.0.0.1.

const RULE =
  ": refused by teamstack's egress policy; an operator may allow a range with TEAMSTACK_EGRESS_ALLOW";

let targets: SsrfTargets;
let allowed: RecordingServer;
let port: number;
let dns: DnsServer;
const connections = () => targets.connections();

beforeAll(async () => {
  dns = await startDnsServer();
  targets = await startSsrfTargets();
  allowed = targets.allowed;
  port = targets.port;
  dns.names.set("loopback.ssrf.test", ["127.0.0.1"]);
  dns.names.set("loopback6.ssrf.test", ["::1"]);
  dns.names.set("metadata.ssrf.test", ["169.254.169.254"]);
  dns.names.set("private.ssrf.test", ["10.1.2.3"]);
  dns.names.set("allowed.ssrf.test", [ALLOWED_HOST]);
  // A loopback answer first, the allowed one after: only the allowed one may be connected to.
  dns.names.set("mixed.ssrf.test", ["127.0.0.1", ALLOWED_HOST]);
});

afterAll(async () => {
  await targets?.close();
  await dns?.close();
});

beforeEach(() => {
  targets.reset();
  dns.queries.clear();
});

function runner(overrides: Parameters<typeof runnerFor>[1] = {}) {
  return runnerFor(allowed, { resolve: resolverResolve(dns.resolver()), ...overrides }).runner;
}

const webhook = (url: string): HookRequest => hookRequest("webhook", { url }, { webhook_secret: "whsec_x" });
const slack = (url: string): HookRequest => hookRequest("slack_msg", { msg: "hi", webhook_url: url });

/** Each target, the hook that names it, and the refusal it must get. */
const corpus: readonly { name: string; request: () => HookRequest; message: string | RegExp }[] = [
  {
    name: "loopback as a decimal number",
    request: () => webhook(`http://2130706433:${port}/hook`),
    message: `webhook URL host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "loopback in octal",
    request: () => webhook(`http://0177.0.0.1:${port}/hook`),
    message: `webhook URL host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "loopback in hex",
    request: () => webhook(`http://0x7f000001:${port}/hook`),
    message: `webhook URL host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "loopback in dotted hex",
    request: () => webhook(`http://0x7f.0.0.1:${port}/hook`),
    message: `webhook URL host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "loopback in short form",
    request: () => webhook(`http://127.1:${port}/hook`),
    message: `webhook URL host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "another loopback address",
    request: () => webhook(`http://127.0.0.2:${port}/hook`),
    message: `webhook URL host 127.0.0.2 is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "IPv6 loopback",
    request: () => webhook(`http://[::1]:${port}/hook`),
    message: `webhook URL host ::1 is loopback (::1/128)${RULE}`,
  },
  {
    name: "IPv6 loopback written out in full",
    request: () => webhook(`http://[0:0:0:0:0:0:0:1]:${port}/hook`),
    message: `webhook URL host ::1 is loopback (::1/128)${RULE}`,
  },
  {
    name: "IPv4-mapped IPv6 loopback",
    request: () => webhook(`http://[::ffff:127.0.0.1]:${port}/hook`),
    message: `webhook URL host ::ffff:7f00:1 is the IPv4-mapped IPv6 form of 127.0.0.1, loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "the unspecified address, which Linux connects to loopback",
    request: () => webhook(`http://0.0.0.0:${port}/hook`),
    message: `webhook URL host 0.0.0.0 is unspecified (this network) (0.0.0.0/8)${RULE}`,
  },
  {
    name: "`0`, the unspecified address in short form",
    request: () => webhook(`http://0:${port}/hook`),
    message: `webhook URL host 0.0.0.0 is unspecified (this network) (0.0.0.0/8)${RULE}`,
  },
  {
    name: "a name in DNS resolving to 127.0.0.1",
    request: () => webhook(`http://loopback.ssrf.test:${port}/hook`),
    message: `webhook URL host \`loopback.ssrf.test\` resolves to 127.0.0.1, which is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "a name in DNS resolving to ::1",
    request: () => webhook(`http://loopback6.ssrf.test:${port}/hook`),
    message: `webhook URL host \`loopback6.ssrf.test\` resolves to ::1, which is loopback (::1/128)${RULE}`,
  },
  {
    name: "link-local",
    request: () => webhook("http://169.254.10.10/hook"),
    message: `webhook URL host 169.254.10.10 is link-local (169.254.0.0/16)${RULE}`,
  },
  {
    name: "IPv6 link-local",
    request: () => webhook("http://[fe80::1]/hook"),
    message: `webhook URL host fe80::1 is link-local (fe80::/10)${RULE}`,
  },
  {
    name: "the cloud metadata address",
    request: () => webhook("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
    message: `webhook URL host 169.254.169.254 is a cloud metadata address (169.254.169.254)${RULE}`,
  },
  {
    name: "the ECS task metadata address",
    request: () => webhook("http://169.254.170.2/v2/credentials"),
    message: `webhook URL host 169.254.170.2 is a cloud metadata address (169.254.170.2)${RULE}`,
  },
  {
    name: "the AWS IPv6 metadata address",
    request: () => webhook("http://[fd00:ec2::254]/latest/meta-data/"),
    message: `webhook URL host fd00:ec2::254 is a cloud metadata address (fd00:ec2::254)${RULE}`,
  },
  {
    name: "Alibaba Cloud's metadata address",
    request: () => webhook("http://100.100.100.200/latest/meta-data/"),
    message: `webhook URL host 100.100.100.200 is a cloud metadata address (100.100.100.200)${RULE}`,
  },
  {
    name: "the metadata address through a name",
    request: () => webhook("http://metadata.ssrf.test/latest/meta-data/"),
    message: `webhook URL host \`metadata.ssrf.test\` resolves to 169.254.169.254, which is a cloud metadata address (169.254.169.254)${RULE}`,
  },
  {
    name: "the metadata address in NAT64 form",
    request: () => webhook("http://[64:ff9b::a9fe:a9fe]/latest/"),
    message: `webhook URL host 64:ff9b::a9fe:a9fe is the NAT64 form of 169.254.169.254, a cloud metadata address (169.254.169.254)${RULE}`,
  },
  {
    name: "private 10/8",
    request: () => webhook("http://10.0.0.1/hook"),
    message: `webhook URL host 10.0.0.1 is private (10.0.0.0/8)${RULE}`,
  },
  {
    name: "private 172.16/12",
    request: () => webhook("http://172.20.1.1/hook"),
    message: `webhook URL host 172.20.1.1 is private (172.16.0.0/12)${RULE}`,
  },
  {
    name: "private 192.168/16",
    request: () => webhook("http://192.168.1.1/hook"),
    message: `webhook URL host 192.168.1.1 is private (192.168.0.0/16)${RULE}`,
  },
  {
    name: "IPv6 unique local",
    request: () => webhook("http://[fd12:3456::1]/hook"),
    message: `webhook URL host fd12:3456::1 is unique local (private) (fc00::/7)${RULE}`,
  },
  {
    name: "carrier-grade NAT",
    request: () => webhook("http://100.64.0.1/hook"),
    message: `webhook URL host 100.64.0.1 is carrier-grade NAT (shared address space) (100.64.0.0/10)${RULE}`,
  },
  {
    name: "multicast",
    request: () => webhook("http://224.0.0.1/hook"),
    message: `webhook URL host 224.0.0.1 is multicast (224.0.0.0/4)${RULE}`,
  },
  {
    name: "broadcast",
    request: () => webhook("http://255.255.255.255/hook"),
    message: `webhook URL host 255.255.255.255 is reserved or broadcast (240.0.0.0/4)${RULE}`,
  },
  {
    name: "a Slack webhook_url at loopback in decimal",
    request: () => slack(`http://2130706433:${port}/services/T0/B0/x`),
    message: `Slack webhook_url host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
  },
  {
    name: "a Slack webhook_url at a name resolving to a private address",
    request: () => slack("http://private.ssrf.test/services/T0/B0/x"),
    message: `Slack webhook_url host \`private.ssrf.test\` resolves to 10.1.2.3, which is private (10.0.0.0/8)${RULE}`,
  },
];

describe("the SSRF corpus: template-steered requests", () => {
  it("has at least 15 targets", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(15);
  });

  it.each(corpus)("refuses $name, naming the rule, and connects nowhere", async ({ request, message }) => {
    const result = await runner().run(request());
    expect(result).toEqual({ status: "FAILED", message, retryable: false });
    expect(connections()).toBe(0);
    expect(allowed.requests).toEqual([]);
  });

  it("refuses `localhost` through the system resolver (/etc/hosts)", async () => {
    const system = runnerFor(allowed).runner;
    const result = await system.run(webhook(`http://localhost:${port}/hook`));
    expect(result.status).toBe("FAILED");
    expect(result.retryable).toBe(false);
    expect(result.message).toMatch(
      /^webhook URL host `localhost` resolves to (127\.0\.0\.1, which is loopback \(127\.0\.0\.0\/8\)|::1, which is loopback \(::1\/128\))/,
    );
    expect(result.message?.endsWith(RULE)).toBe(true);
    expect(connections()).toBe(0);
  });

  it("refuses a redirect from the allowed server to loopback, naming the rule, without following it", async () => {
    allowed.answer({ status: 302, headers: { location: `http://127.0.0.1:${port}/steal?token=q` } });
    const result = await runner().run(webhook(`${allowed.url}/hook`));
    expect(allowed.requests).toHaveLength(1);
    expect(connections()).toBe(0);
    expect(result).toEqual({
      status: "FAILED",
      retryable: false,
      message: `webhook answered HTTP 302 Found, a redirect to http://127.0.0.1:${port}/steal (redirects are not followed), and its host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
    });
  });

  it("refuses a redirect to a name that resolves to the metadata address", async () => {
    allowed.answer({ status: 307, headers: { location: "http://metadata.ssrf.test/latest/meta-data/" } });
    const result = await runner().run(webhook(`${allowed.url}/hook`));
    expect(allowed.requests).toHaveLength(1);
    expect(result.message).toBe(
      `webhook answered HTTP 307 Temporary Redirect, a redirect to http://metadata.ssrf.test/latest/meta-data/ (redirects are not followed), and its host \`metadata.ssrf.test\` resolves to 169.254.169.254, which is a cloud metadata address (169.254.169.254)${RULE}`,
    );
  });

  it("connects to the address it checked when the DNS answer changes between two lookups", async () => {
    // The first answer is the allowed server, the next one loopback. A client that checks one
    // lookup and connects with another would reach the sentinel on its first try.
    dns.names.set("rebind.ssrf.test", (query) => (query === 1 ? [ALLOWED_HOST] : ["127.0.0.1"]));
    allowed.answer({ status: 503, body: "try again" });
    const result = await runner().run(webhook(`http://rebind.ssrf.test:${port}/hook`));
    // The first try reached the allowed server; the retry looked the name up again, got loopback
    // and was refused, and not tried a third time.
    expect(allowed.requests).toHaveLength(1);
    expect(dns.queries.get("rebind.ssrf.test A")).toBe(2);
    expect(connections()).toBe(0);
    expect(result).toEqual({
      status: "FAILED",
      retryable: false,
      message: `webhook URL host \`rebind.ssrf.test\` resolves to 127.0.0.1, which is loopback (127.0.0.0/8)${RULE}`,
    });
  });

  it("does not retry a refusal", async () => {
    const { runner: r, waits } = runnerFor(allowed, { resolve: resolverResolve(dns.resolver()) });
    await r.run(webhook(`http://loopback.ssrf.test:${port}/hook`));
    expect(waits).toEqual([]);
    expect(dns.queries.get("loopback.ssrf.test A")).toBe(1);
  });
});

describe("what the policy still lets through", () => {
  it("posts to the allowed server by address", async () => {
    allowed.answer({ status: 200, body: "ok" });
    const result = await runner().run(webhook(`${allowed.url}/hook`));
    expect(result.status).toBe("SUCCEEDED");
    expect(allowed.requests).toHaveLength(1);
  });

  it("posts to the allowed server by a name, and a Slack webhook_url too", async () => {
    allowed.answer({ status: 200, body: "ok" }, { status: 200, body: "ok" });
    const hook = await runner().run(webhook(`http://allowed.ssrf.test:${port}/hook`));
    const message = await runner().run(slack(`http://allowed.ssrf.test:${port}/services/T0/B0/x`));
    expect([hook.status, message.status]).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    expect(allowed.requests.map((r) => [r.path, r.headers.host])).toEqual([
      ["/hook", `allowed.ssrf.test:${port}`],
      ["/services/T0/B0/x", `allowed.ssrf.test:${port}`],
    ]);
  });

  it("connects only to the allowed answer of a name that also answers loopback", async () => {
    allowed.answer({ status: 200, body: "ok" });
    const result = await runner().run(webhook(`http://mixed.ssrf.test:${port}/hook`));
    expect(result.status).toBe("SUCCEEDED");
    expect(allowed.requests).toHaveLength(1);
    expect(connections()).toBe(0);
  });

  it("refuses the allowed server's address once the operator's allow list is empty", async () => {
    const closed = runnerFor(allowed, { egressAllow: "" }).runner;
    const result = await closed.run(webhook(`${allowed.url}/hook`));
    expect(result.message).toBe(`webhook URL host ${ALLOWED_HOST} is loopback (127.0.0.0/8)${RULE}`);
    expect(allowed.requests).toEqual([]);
  });

  it("keeps verifying an https receiver's certificate (a self-signed one is refused)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "teamstack-ssrf-tls-"));
    const requests: string[] = [];
    let handshakes = 0;
    const tls = createHttpsServer((req, res) => {
      requests.push(req.url ?? "");
      res.end("ok");
    });
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=allowed.ssrf.test",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      tls.setSecureContext({
        key: readFileSync(join(dir, "key.pem")),
        cert: readFileSync(join(dir, "cert.pem")),
      });
      tls.on("connection", () => handshakes++);
      await new Promise<void>((resolve) => tls.listen(0, ALLOWED_HOST, resolve));
      const { port: tlsPort } = tls.address() as AddressInfo;
      const result = await runner().run(webhook(`https://allowed.ssrf.test:${tlsPort}/hook`));
      expect(result).toEqual({
        status: "FAILED",
        retryable: true,
        message: `webhook could not be reached (DEPTH_ZERO_SELF_SIGNED_CERT) on 3 attempts (https://allowed.ssrf.test:${tlsPort}/hook)`,
      });
      // The name resolved to the allowed address and TLS was tried there, but nothing was sent.
      expect(handshakes).toBe(3);
      expect(requests).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => tls.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
