import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signingKey, signJwt } from "../../../src/api/jwt.ts";
import { type LocalApiServer, signingKeyFile, startLocalApiServer } from "../../../src/local/api-server.ts";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import type { StackEvent, StackKey } from "../../../src/ports/store.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { checkedFetch } from "../../support/openapi-check.ts";
import { type FakeGithub, startFakeGithub } from "./github-server.ts";

// Offboarding end to end: a real `serve` (the API and the engine running the real ASL on dynalite)
// in this process on 127.0.0.1, hooks calling a recording GitHub on 127.0.0.1. A member signs up
// (the pre-hook adds them to two GitHub teams, one with `undo: false`), then leaves: the team's
// on_member_left destroys their stacks, the destroy hooks run before the servers go, and the one
// membership is removed. Nothing waits on a clock: `idle()` resolves when the executions the
// requests started have ended.

const TEMPLATE = `
servers:
  - { name: db, provider: sim, type: t3.micro }
  - { name: app, provider: sim, type: t3.micro, user_data: "echo $servers.db.IP" }
pre_hooks:
  - add_github_user: { org: acme, team_name: backend, user: $koding.userdata.github_username }
  - add_github_user: { org: acme, team_name: alumni, user: $koding.userdata.github_username, undo: false }
destroy_hooks:
  - slack_msg: { channel: "#team", msg: "bye $koding.artifact.memberName" }
  - run_script: { target_server: db, script: "backup of $servers.app.IP for $koding.artifact.memberName" }
`;

let stateDir: string;
let engine: LocalEngine;
let api: LocalApiServer;
let github: FakeGithub;
let admin: string;

async function call(method: string, path: string, body?: unknown) {
  const res = await checkedFetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & unknown[] };
}

const signup = (id: string, member: string) => ({
  id,
  source: "teamstack.teams",
  "detail-type": "Team Member Signed Up",
  detail: { team: "acme", member, userdata: { github_username: `${member}-gh` } },
});
const left = (id: string, member: string) => ({
  id,
  source: "teamstack.teams",
  "detail-type": "Team Member Left",
  detail: { team: "acme", member },
});

async function eventsOf(stackId: string): Promise<StackEvent[]> {
  return engine.store.listEvents({ team: "acme", stackId });
}

/** Provisions a stack of the default template for `member` (a signup) and waits for it. */
async function signedUp(id: string, member: string): Promise<StackKey> {
  const res = await call("POST", "/events", signup(id, member));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await api.idle();
  const stackId = res.body.stackId as string;
  expect((await engine.store.getStack({ team: "acme", stackId }))?.status).toBe("SUCCEEDED");
  return { team: "acme", stackId };
}

const githubCalls = (method: string, team: string, user: string) =>
  github.requests.filter(
    (r) => r.method === method && r.path === `/orgs/acme/teams/${team}/memberships/${user}`,
  );

beforeAll(async () => {
  github = await startFakeGithub();
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-offboard-"));
  engine = await openLocalEngine({
    stateDir,
    config: { hookEndpoints: { github: github.url }, egressAllow: "127.0.0.1/32" },
  });
  await engine.secrets.set({ team: "acme" }, "github_token", "ghp_offboarding_token");
  api = await startLocalApiServer({ engine, port: 0, log: () => undefined });
  const key = await signingKey(signingKeyFile(stateDir));
  const now = Math.floor(Date.now() / 1000);
  admin = signJwt(
    { sub: "root", "teamstack:team": "acme", "teamstack:admin": true, iat: now, exp: now + 3600 },
    key,
  );
  expect((await call("PUT", "/teams/acme/templates/dev", TEMPLATE)).status).toBe(201);
  expect((await call("POST", "/teams/acme/templates/dev/default")).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await api?.close();
  for (const s of (await engine?.store.listStacks()) ?? [])
    if (s.status !== "DESTROYED") await engine.destroy(s);
  await engine?.close();
  await github?.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("Team Member Left", () => {
  it("destroys the member's stacks, runs destroy_hooks first and removes the GitHub membership, once for an event delivered twice", async () => {
    const first = await signedUp("evt-carol-1", "carol");
    // Signing up again keeps the stack carol has (stacks are named, one per name and member)...
    const again = await call("POST", "/events", signup("evt-carol-1b", "carol"));
    expect(again.body).toEqual({ stackId: first.stackId, executionName: null });
    // ...and a second stack of the template needs a name of its own.
    const made = await call("POST", "/teams/acme/stacks", {
      template: "dev",
      member: "carol",
      name: "dev-2",
    });
    expect(made.status, JSON.stringify(made.body)).toBe(202);
    await api.idle();
    const second = { team: "acme", stackId: made.body.stackId as string };
    expect((await engine.store.getStack(second))?.status).toBe("SUCCEEDED");
    const dave = await signedUp("evt-dave-1", "dave");
    // Provision added carol to both teams, once per stack.
    expect(githubCalls("PUT", "backend", "carol-gh")).toHaveLength(2);
    expect(githubCalls("PUT", "alumni", "carol-gh")).toHaveLength(2);
    expect(github.requests.every((r) => r.authorization === "Bearer ghp_offboarding_token")).toBe(true);

    const event = left("evt-carol-left", "carol");
    const once = await call("POST", "/events", event);
    expect(once.status, JSON.stringify(once.body)).toBe(202);
    expect(once.body).toMatchObject({ member: "carol", onMemberLeft: "destroy" });
    expect((once.body.stacks as { outcome: string }[]).map((s) => s.outcome)).toEqual(["started", "started"]);
    // Delivered again at once (EventBridge's at-least-once), while the destroys run: nothing new.
    const twice = await call("POST", "/events", event);
    expect(twice.status).toBe(202);
    expect((twice.body.stacks as { outcome: string }[]).map((s) => s.outcome)).toEqual([
      "already",
      "already",
    ]);
    await api.idle();
    // And once they are destroyed: no stack left to act on.
    const thrice = await call("POST", "/events", event);
    expect(thrice.body.stacks).toEqual([]);

    for (const key of [first, second]) {
      const stack = await engine.store.getStack(key);
      expect(stack?.status, stack?.error).toBe("DESTROYED");
      const events = await eventsOf(key.stackId);
      // One destroy execution per stack, one MemberLeft event each.
      expect(events.filter((e) => e.type === "DestroyStarted")).toHaveLength(1);
      expect(events.filter((e) => e.type === "MemberLeft")).toHaveLength(1);
      expect(events.find((e) => e.type === "MemberLeft")?.message).toContain("(event evt-carol-left)");
      // destroy_hooks, then the undo, then the servers.
      const seq = (match: (e: StackEvent) => boolean) => events.find(match)?.seq ?? Number.NaN;
      const farewell = seq((e) => e.message.startsWith("destroy_hooks[0] slack_msg"));
      const backup = seq((e) => e.message.startsWith("destroy_hooks[1] run_script: succeeded"));
      const undo = seq((e) =>
        e.message.startsWith("undo[0] add_github_user (undoing pre_hooks[0]): succeeded"),
      );
      const firstServerGone = Math.min(
        ...events.filter((e) => e.type === "ServerDestroyed").map((e) => e.seq),
      );
      expect(farewell).toBeLessThan(backup);
      expect(backup).toBeLessThan(undo);
      expect(undo).toBeLessThan(firstServerGone);
      const hooks = await engine.store.listHooks(key);
      const backupHook = hooks.find((h) => h.phase === "destroy" && h.index === 1);
      expect(backupHook?.status).toBe("SUCCEEDED");
      // The backup script saw the servers' artifacts: they still existed.
      expect(backupHook?.output).toMatch(/backup of 10\.\d+\.\d+\.\d+ for carol/);
      expect(hooks.filter((h) => h.phase === "undo").map((h) => [h.index, h.status])).toEqual([
        [0, "SUCCEEDED"],
      ]);
      // Kept 30 days, then purged.
      expect(stack?.purgeAt).toBeGreaterThan(Date.now() / 1000 + 29 * 86_400);
    }
    // One removal per stack from the team the hook added carol to; none from `undo: false`'s.
    expect(githubCalls("DELETE", "backend", "carol-gh")).toHaveLength(2);
    expect(githubCalls("DELETE", "alumni", "carol-gh")).toHaveLength(0);
    // Dave's stack is untouched, carol is marked left, and each destroy was announced.
    expect((await engine.store.getStack(dave))?.status).toBe("SUCCEEDED");
    expect((await engine.store.getMember("acme", "carol"))?.left?.event).toBe("evt-carol-left");
    const outbound = await engine.store.listOutboundEvents();
    expect(
      outbound
        .filter((e) => e.detailType === "Stack Destroyed")
        .map((e) => e.detail.stackId)
        .sort(),
    ).toEqual([first.stackId, second.stackId].sort());
  }, 120_000);

  it("keeps the member's stacks with on_member_left: keep, and stops them with stop", async () => {
    const bad = await call("PUT", "/teams/acme/policy", {
      providers: PROVIDERS.names,
      on_member_left: "archive",
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe("on_member_left: expected destroy, stop or keep, found `archive`");

    const kept = await signedUp("evt-erin-1", "erin");
    const keep = await call("PUT", "/teams/acme/policy", {
      providers: PROVIDERS.names,
      on_member_left: "keep",
    });
    expect(keep.status).toBe(200);
    expect(keep.body.onMemberLeft).toBe("keep");
    // Changing the providers alone leaves on_member_left as it was.
    const again = await call("PUT", "/teams/acme/policy", { providers: PROVIDERS.names });
    expect(again.body.onMemberLeft).toBe("keep");

    const removalsBefore = github.requests.filter((r) => r.method === "DELETE").length;
    const res = await call("POST", "/events", left("evt-erin-left", "erin"));
    expect(res.status).toBe(202);
    expect(res.body.stacks).toEqual([{ stackId: kept.stackId, action: "keep", outcome: "kept" }]);
    await api.idle();
    expect((await engine.store.getStack(kept))?.status).toBe("SUCCEEDED");
    expect(
      (await eventsOf(kept.stackId)).filter((e) => e.type === "MemberLeft").map((e) => e.message),
    ).toEqual(["member erin left team acme (event evt-erin-left): stack kept (on_member_left: keep)"]);
    expect(github.requests.filter((r) => r.method === "DELETE")).toHaveLength(removalsBefore);

    // `stop`: the power machine stops the member's stack, once.
    await call("PUT", "/teams/acme/policy", { providers: PROVIDERS.names, on_member_left: "stop" });
    const stop = await call("POST", "/events", left("evt-erin-left-2", "erin"));
    expect(stop.status, JSON.stringify(stop.body)).toBe(202);
    expect(stop.body.stacks).toMatchObject([{ stackId: kept.stackId, action: "stop", outcome: "started" }]);
    await api.idle();
    expect((await engine.store.getStack(kept))?.status).toBe("STOPPED");
    const stopAgain = await call("POST", "/events", left("evt-erin-left-2", "erin"));
    expect(stopAgain.body.stacks).toMatchObject([{ stackId: kept.stackId, outcome: "already" }]);
    expect((await engine.store.getMember("acme", "erin"))?.left?.event).toBe("evt-erin-left-2");
    await call("PUT", "/teams/acme/policy", { providers: PROVIDERS.names, on_member_left: "destroy" });
  }, 120_000);

  it("records a failed undo, destroys the servers all the same, and `down` again repeats only that undo", async () => {
    const key = await signedUp("evt-frank-1", "frank");
    const removals = () => githubCalls("DELETE", "backend", "frank-gh").length;
    github.refuse("DELETE", "/teams/backend/memberships/frank-gh", 403);
    const outcome = await engine.destroy(key);
    expect(outcome.status).toBe("FAILED");
    let stack = await engine.store.getStack(key);
    expect(stack?.status).toBe("FAILED");
    expect(stack?.error).toContain(
      "servers destroyed, but undo[0] add_github_user (undoing pre_hooks[0]) failed",
    );
    expect(stack?.error).toContain("GitHub answered HTTP 403");
    expect(stack?.purgeAt).toBeUndefined();
    expect((await engine.store.listServers(key)).map((s) => s.status)).toEqual(["DESTROYED", "DESTROYED"]);
    expect(removals()).toBe(1);

    // The destroy hooks succeeded the first time: the rerun repeats only the failed undo.
    const hooksBefore = (await engine.store.listHooks(key)).filter((h) => h.phase === "destroy");
    expect(hooksBefore.map((h) => h.status)).toEqual(["SKIPPED", "SUCCEEDED"]);
    expect((await engine.destroy(key)).status).toBe("SUCCEEDED");
    stack = await engine.store.getStack(key);
    expect(stack?.status).toBe("DESTROYED");
    expect(removals()).toBe(2);
    const backups = (await eventsOf(key.stackId)).filter((e) =>
      e.message.startsWith("destroy_hooks[1] run_script"),
    );
    expect(backups).toHaveLength(1);
    // A third destroy has nothing left to undo: no request at all.
    expect((await engine.destroy(key)).status).toBe("SUCCEEDED");
    expect(removals()).toBe(2);
  }, 120_000);

  it("filters GET /teams/{team}/stacks by member and status, and refuses a status that does not exist", async () => {
    const carol = (await call("GET", "/teams/acme/stacks?member=carol&status=destroyed")).body as {
      member: string;
      status: string;
    }[];
    expect(carol.map((s) => [s.member, s.status])).toEqual([
      ["carol", "DESTROYED"],
      ["carol", "DESTROYED"],
    ]);
    const dave = (await call("GET", "/teams/acme/stacks?member=dave")).body as {
      member: string;
      status: string;
    }[];
    expect(dave.map((s) => [s.member, s.status])).toEqual([["dave", "SUCCEEDED"]]);
    const succeeded = (await call("GET", "/teams/acme/stacks?status=SUCCEEDED")).body as { member: string }[];
    expect(succeeded.map((s) => s.member).sort()).toEqual(["dave"]);
    const stopped = (await call("GET", "/teams/acme/stacks?status=stopped")).body as { member: string }[];
    expect(stopped.map((s) => s.member)).toEqual(["erin"]);
    const bad = await call("GET", "/teams/acme/stacks?status=gone");
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain(
      "status `gone`: expected one of RUNNING, SUCCEEDED, FAILED, DESTROYING, DESTROYED",
    );
  });
});
