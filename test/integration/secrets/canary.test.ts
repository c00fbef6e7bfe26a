import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gunzipSync } from "node:zlib";
import { type AttributeValue, ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signingKey, signJwt } from "../../../src/api/jwt.ts";
import { signingKeyFile, startLocalApiServer } from "../../../src/local/api-server.ts";
import { ensureLocalStore, stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import { stackStatus } from "../../../src/pipeline/status.ts";
import { BIN, ROOT, runCli } from "../../support/cli.ts";
import { checkedFetch } from "../../support/openapi-check.ts";

// Two canary secrets, used as $koding.userdata.CANARY and $koding.userdata.CANARY_LINES, printed
// by user_data (of a server that works and of one that fails) and by a run_script hook: raw, in
// base64 (standard and URL-safe, after 0, 1 and 2 other bytes), in hex (both cases), URL-encoded,
// and the multi-line one line by line. No form may appear anywhere but in the encrypted secrets
// file: not in command output, API answers, events, store items, the execution history, or any
// other file under the state directory.

// Characters that URL encoding changes (space, /, +, :, =, &), around random ones.
const CANARY = `canary ${randomBytes(9).toString("hex")}/+:=&${randomBytes(9).toString("base64url")}`;
const LINES = [0, 1, 2].map((i) => `line${i}-${randomBytes(10).toString("hex")}`);
const CANARY_LINES = LINES.join("\n");

/**
 * Every text that shows the canary, computed here with Buffer and encodeURIComponent (not with
 * the masker's own code): for base64 after `k` other bytes, the characters that depend on the
 * canary's bytes only.
 */
function forms(): [string, string][] {
  const out: [string, string][] = [["raw", CANARY]];
  for (const prefix of ["", "x", "xy"]) {
    const full = Buffer.from(prefix + CANARY)
      .toString("base64")
      .replace(/=+$/, "");
    // The first characters carry bits of the prefix; a last partial group, bits of what follows.
    const start = prefix.length === 0 ? 0 : prefix.length + 1;
    const total = prefix.length + Buffer.byteLength(CANARY);
    const end = total % 3 === 0 ? full.length : full.length - 1;
    const core = full.slice(start, end);
    out.push([`base64 after ${prefix.length} bytes`, core]);
    out.push([`base64url after ${prefix.length} bytes`, core.replaceAll("+", "-").replaceAll("/", "_")]);
  }
  const hex = Buffer.from(CANARY).toString("hex");
  out.push(["hex", hex], ["HEX", hex.toUpperCase()], ["url-encoded", encodeURIComponent(CANARY)]);
  out.push(["form-encoded", new URLSearchParams({ v: CANARY }).toString().slice(2)]);
  for (const [i, line] of LINES.entries()) out.push([`line ${i}`, line]);
  out.push(["multi-line", CANARY_LINES]);
  return out;
}
const FORMS = forms();

/** Prints both canaries in every form, with bash and coreutils only, as a member's script would. */
const PRINT_ALL = [
  "S='$koding.userdata.CANARY'",
  "urlenc() {",
  "  printf %s \"$1\" | od -An -v -tx1 | tr -s ' \\n' '\\n\\n' | while read -r h; do",
  '    [ -z "$h" ] && continue',
  '    case "$h" in',
  '      3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|2d|5f|2e|21|7e|2a|27|28|29) printf "\\\\$(printf %o 0x$h)" ;;',
  '      *) printf \'%%%s\' "$(printf %s "$h" | tr a-f A-F)" ;;',
  "    esac",
  "  done",
  "}",
  'echo "raw $S"',
  "for p in '' x xy; do",
  '  b=$(printf \'%s%s\' "$p" "$S" | base64 -w0)',
  '  echo "b64[$p] $b"',
  "  echo \"b64url[$p] $(printf %s \"$b\" | tr '+/' '-_' | tr -d '=')\"",
  "done",
  "h=$(printf %s \"$S\" | od -An -v -tx1 | tr -d ' \\n')",
  'echo "hex $h"',
  'echo "HEX $(printf %s "$h" | tr a-f A-F)"',
  'echo "url $(urlenc "$S")"',
  "M='$koding.userdata.CANARY_LINES'",
  'printf \'%s\\n\' "$M" | while IFS= read -r line; do echo "line $line"; done',
  // Proof that the value arrived, which shows nothing of it.
  'echo "sha256 $(printf %s "$S" | sha256sum | cut -c1-64)"',
];

const indent = (lines: readonly string[], n: number) => lines.map((l) => `${" ".repeat(n)}${l}`).join("\n");
const TEMPLATE = [
  "servers:",
  "  - name: box",
  "    provider: local",
  "    type: sandbox",
  "    user_data: |",
  indent(PRINT_ALL, 6),
  "post_hooks:",
  "  - run_script:",
  "      target_server: box",
  "      script: |",
  indent(PRINT_ALL, 8),
].join("\n");
const FAILING = [
  "servers:",
  "  - name: bad",
  "    provider: local",
  "    type: sandbox",
  "    user_data: |",
  indent(PRINT_ALL, 6),
  '      echo "failing with $S"',
  "      exit 3",
].join("\n");

let stateDir: string;
let engine: LocalEngine;
const history: unknown[] = [];
const logs: string[] = [];
const key = { team: "acme", stackId: "canary-1" };
const failing = { team: "acme", stackId: "canary-2" };

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** Which forms of the canaries a text or a file's bytes hold, as "where: form". */
function leaks(where: string, data: string | Buffer): string[] {
  return FORMS.filter(([, form]) => data.includes(form)).map(([name]) => `${where}: ${name}`);
}

/** Every attribute of a scanned item as text, gzip-compressed binaries (the template) unpacked. */
function itemText(item: Record<string, AttributeValue>): string {
  const parts: string[] = [];
  const walk = (v: AttributeValue | undefined): void => {
    if (!v) return;
    if (v.S !== undefined) parts.push(v.S);
    if (v.N !== undefined) parts.push(v.N);
    if (v.B !== undefined) {
      parts.push(Buffer.from(v.B).toString("latin1"));
      try {
        parts.push(gunzipSync(v.B).toString("utf8"));
      } catch {
        // not compressed
      }
    }
    for (const s of v.SS ?? []) parts.push(s);
    for (const e of v.L ?? []) walk(e);
    for (const e of Object.values(v.M ?? {})) walk(e);
  };
  for (const [k, v] of Object.entries(item)) {
    parts.push(k);
    walk(v);
  }
  return parts.join("\n");
}

const setSecret = (name: string, value: string) => {
  const set = spawnSync(
    process.execPath,
    [BIN, "secrets", "set", "--team", "acme", "--member", "alice", name, "--state-dir", stateDir],
    { cwd: ROOT, input: `${value}\n`, encoding: "utf8" },
  );
  expect(set.status, set.stderr).toBe(0);
  logs.push(set.stdout, set.stderr);
};

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-canary-"));
  setSecret("CANARY", CANARY);
  setSecret("CANARY_LINES", CANARY_LINES);
  engine = await openLocalEngine({ stateDir });
  const now = new Date().toISOString();
  for (const [k, yaml] of [
    [key, TEMPLATE],
    [failing, FAILING],
  ] as const) {
    await engine.store.createStack({
      ...k,
      member: "alice",
      status: "RUNNING",
      run: 0,
      templateYaml: yaml,
      templateFile: "canary.yaml",
      templateHash: createHash("sha256").update(yaml).digest("hex"),
      userdata: {},
      simulate: [],
      createdAt: now,
      startedAt: now,
    });
  }
  const ok = await engine.provision(key, { onHistory: (e) => history.push(e) });
  expect(ok.status, JSON.stringify(ok)).toBe("SUCCEEDED");
  const failed = await engine.provision(failing, { onHistory: (e) => history.push(e) });
  expect(failed.status).toBe("FAILED");
  // The failure's cause travelled through the state machine: it must be masked too.
  expect(failed.status === "FAILED" ? failed.cause : "").toContain("failing with ***");
}, 120_000);

afterAll(async () => {
  await engine?.destroy(key);
  await engine?.destroy(failing);
  await engine?.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("a secret used by a stack", () => {
  it("reaches user_data and scripts, whose captured output shows *** for every form", async () => {
    const view = await stackStatus(engine.store, key);
    const bad = (await stackStatus(engine.store, failing))?.servers.find((s) => s.name === "bad");
    expect(view?.servers.find((s) => s.name === "box")?.status).toBe("SUCCEEDED");
    expect(bad?.status).toBe("FAILED");
    // The failing user_data's output tail is in the error, masked.
    expect(bad?.error).toContain("failing with ***");
    const output = view?.hooks[0]?.output ?? "";
    // The script had the value: its hash is the canary's.
    expect(output).toContain(`sha256 ${createHash("sha256").update(CANARY).digest("hex")}`);
    for (const line of ["raw ***", "hex ***", "HEX ***", "url ***", "line ***"])
      expect(output).toContain(line);
    expect(output.match(/^line \*\*\*$/gm)).toHaveLength(LINES.length);
    expect(output.match(/^b64(url)?\[x?y?\] .*\*\*\*/gm)).toHaveLength(6);
  });

  it("appears nowhere: status, events, store items, execution history, API answers, command output", async () => {
    const view = [await stackStatus(engine.store, key), await stackStatus(engine.store, failing)];
    const events = [await engine.store.listEvents(key), await engine.store.listEvents(failing)];
    const outbound = await engine.store.listOutboundEvents();
    const { client, tableName } = await ensureLocalStore(stateDir);
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    expect(items.length).toBeGreaterThan(5);

    const server = await startLocalApiServer({ engine, port: 0, log: (l) => logs.push(l) });
    const api: string[] = [];
    try {
      const k = await signingKey(signingKeyFile(stateDir));
      const now = Math.floor(Date.now() / 1000);
      const token = signJwt(
        { sub: "alice", "teamstack:team": "acme", "teamstack:admin": true, iat: now, exp: now + 600 },
        k,
      );
      for (const path of [
        `/teams/acme/stacks/${key.stackId}`,
        `/teams/acme/stacks/${key.stackId}/events`,
        `/teams/acme/stacks/${failing.stackId}`,
        `/teams/acme/stacks/${failing.stackId}/events`,
        "/teams/acme/stacks",
      ]) {
        const res = await checkedFetch(`${server.url}${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(res.status, path).toBe(200);
        api.push(await res.text());
      }
    } finally {
      await server.close();
    }
    const cli = [
      await runCli(["status", key.stackId, "--json", "--state-dir", stateDir]),
      await runCli(["status", failing.stackId, "--json", "--state-dir", stateDir]),
      await runCli(["secrets", "list", "--json", "--state-dir", stateDir]),
      await runCli(["events", "list", "--json", "--state-dir", stateDir]),
    ];
    expect(cli[2]?.stdout).toContain("CANARY_LINES");

    const found = [
      ...leaks("status", JSON.stringify(view)),
      ...leaks("events", JSON.stringify(events)),
      ...leaks("outbound events", JSON.stringify(outbound)),
      ...items.flatMap((item) => leaks(`store item ${item.pk?.S} ${item.sk?.S}`, itemText(item))),
      ...leaks("execution history", JSON.stringify(history)),
      ...api.flatMap((text, i) => leaks(`API answer ${i}`, text)),
      ...cli.flatMap((r, i) => leaks(`command ${i}`, `${r.stdout}\n${r.stderr}`)),
      ...leaks("logs", logs.join("\n")),
    ];
    expect(JSON.stringify({ view, events, history, api }).length).toBeGreaterThan(1000);
    expect(found).toEqual([]);
  });

  it("is stored only encrypted: no file under the state directory holds any form but the secrets file", () => {
    const sealed = join(stateDir, "secrets", "secrets.json");
    const files = filesUnder(stateDir);
    expect(files).toContain(sealed);
    const found = files
      .filter((f) => f !== sealed)
      .flatMap((f) => leaks(relative(stateDir, f), readFileSync(f)));
    expect(found).toEqual([]);
  });
});
