import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settled, startTestApi, type TestApi } from "./api-server.ts";

// A team's provider policy and the `local` offer, through every door that starts a stack (POST
// stacks, signup events, reruns), on two real servers: one as `teamstack serve` starts by default
// (local for admins only) and one started with --allow-local.
let api: TestApi;
let open: TestApi;

const LOCAL = "servers:\n  - { name: box, provider: local, type: sandbox, user_data: 'true' }\n";
const SIM = "servers:\n  - { name: db, provider: sim, type: t3.micro }\n";
const AWS = "servers:\n  - { name: web, provider: aws, type: t3.micro }\n";

beforeAll(async () => {
  [api, open] = await Promise.all([startTestApi(), startTestApi({ allowLocal: true })]);
});

afterAll(async () => {
  await Promise.all([api?.close(), open?.close()]);
});

const errorOf = (body: unknown) => body as { error: string; message: string };
const tokens = async (server: TestApi, team: string) => ({
  admin: await server.token(team, "root", true),
  member: await server.token(team, "alice"),
});
const post = (server: TestApi, team: string, token: string, body: object) =>
  server.call("POST", `/teams/${team}/stacks`, { token, body });
const stackIds = async (server: TestApi, team: string, token: string) =>
  ((await server.call("GET", `/teams/${team}/stacks`, { token })).body as { stackId: string }[]).map(
    (s) => s.stackId,
  );

describe("a team's provider policy", () => {
  it("answers the default to any member of the team: every provider offered, local for admins only", async () => {
    const { member } = await tokens(api, "acme");
    const res = await api.call("GET", "/teams/acme/policy", { token: member });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      team: "acme",
      providers: ["local", "sim", "docker", "ssh"],
      default: true,
      onMemberLeft: "destroy",
      offered: ["local", "sim", "docker", "ssh"],
      usable: { admins: ["local", "sim", "docker", "ssh"], members: ["sim", "docker", "ssh"] },
    });
    const wide = await open.call("GET", "/teams/acme/policy", { token: (await tokens(open, "acme")).member });
    expect((wide.body as { usable: unknown }).usable).toEqual({
      admins: ["local", "sim", "docker", "ssh"],
      members: ["local", "sim", "docker", "ssh"],
    });
  });

  it("lets only the team's admins set it, and another team neither read nor set it", async () => {
    const { admin, member } = await tokens(api, "acme");
    const other = await api.token("other", "eve", true);
    const body = { providers: ["sim"] };
    expect((await api.call("PUT", "/teams/acme/policy", { token: member, body })).status).toBe(403);
    expect((await api.call("PUT", "/teams/acme/policy", { token: other, body })).status).toBe(403);
    expect((await api.call("GET", "/teams/acme/policy", { token: other })).status).toBe(403);
    expect((await api.call("GET", "/teams/acme/policy")).status).toBe(401);
    expect(await api.engine.store.getTeamPolicy("acme")).toBeUndefined();
    const set = await api.call("PUT", "/teams/acme/policy", {
      token: admin,
      body: { providers: ["sim", "aws"] },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      providers: ["aws", "sim"],
      default: false,
      updatedBy: "root",
      usable: { admins: ["sim"], members: ["sim"] },
    });
    expect((await api.call("GET", "/teams/acme/policy", { token: member })).body).toEqual(set.body);
  });

  it("refuses unknown, aliased and repeated provider names with 400 naming each, and keeps the policy", async () => {
    const { admin } = await tokens(api, "names");
    const res = await api.call("PUT", "/teams/names/policy", {
      token: admin,
      body: { providers: ["aws", "virtualbox", "localhost", "aws"] },
    });
    expect(res.status).toBe(400);
    const message = errorOf(res.body).message;
    expect(message).toContain(
      "providers[1]: unknown provider `virtualbox`; expected aws, local, sim, docker or ssh",
    );
    expect(message).toContain("providers[2]: `localhost` is another name for `local`; give `local`");
    expect(message).toContain("providers[3]: `aws` is listed twice");
    for (const body of [
      { providers: "sim" },
      { providers: [1] },
      {},
      { providers: ["sim"], members: ["alice"] },
      { providers: Array.from({ length: 17 }, () => "sim") },
      { providers: ["x".repeat(65)] },
    ]) {
      const bad = await api.call("PUT", "/teams/names/policy", { token: admin, body });
      expect(bad.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(errorOf(bad.body).message).toMatch(/^body/);
    }
    expect(await api.engine.store.getTeamPolicy("names")).toBeUndefined();
  });

  it("refuses at creation, with 403 and the reason, a stack whose provider the team does not allow", async () => {
    const { admin } = await tokens(api, "pol");
    await api.call("PUT", "/teams/pol/policy", { token: admin, body: { providers: ["sim"] } });
    const local = await post(api, "pol", admin, { yaml: LOCAL, member: "root" });
    expect(local.status).toBe(403);
    expect(errorOf(local.body).message).toContain(
      "server `box` (local): team `pol`'s policy does not allow local (it allows: sim); a team admin can change it with PUT /teams/pol/policy",
    );
    expect(await stackIds(api, "pol", admin)).toEqual([]);

    // A simulated server runs on sim, and is checked as sim.
    const simulated = await post(api, "pol", admin, { yaml: LOCAL, member: "root", simulate: ["local"] });
    expect(simulated.status).toBe(202);
    const done = await settled(api, "pol", (simulated.body as { stackId: string }).stackId, admin);
    expect(done.body).toMatchObject({ status: "SUCCEEDED" });

    await api.call("PUT", "/teams/pol/policy", { token: admin, body: { providers: ["local"] } });
    const noSim = await post(api, "pol", admin, { yaml: LOCAL, member: "root", simulate: true });
    expect(noSim.status).toBe(403);
    expect(errorOf(noSim.body).message).toContain(
      "server `box` (local, simulated: runs on sim): team `pol`'s policy does not allow sim",
    );

    await api.call("PUT", "/teams/pol/policy", { token: admin, body: { providers: [] } });
    const none = await post(api, "pol", admin, { yaml: SIM, member: "root" });
    expect(none.status).toBe(403);
    expect(errorOf(none.body).message).toContain("(it allows: none)");

    // Allowed but not offered here: 422 with the way to simulate it, not 403.
    await api.call("PUT", "/teams/pol/policy", { token: admin, body: { providers: ["aws", "sim"] } });
    const aws = await post(api, "pol", admin, { yaml: AWS, member: "root" });
    expect(aws.status).toBe(422);
    expect(errorOf(aws.body).message).toContain('"simulate": ["aws"]');
    expect(await stackIds(api, "pol", admin)).toHaveLength(1);
  });

  it("offers local to admins only, unless the server was started with --allow-local", async () => {
    const here = await tokens(api, "loc");
    const refused = await post(api, "loc", here.member, { yaml: LOCAL, member: "alice" });
    expect(refused.status).toBe(403);
    expect(errorOf(refused.body).message).toContain("offers them to team admins only");
    expect(errorOf(refused.body).message).toContain("teamstack serve --allow-local");
    expect(await stackIds(api, "loc", here.admin)).toEqual([]);
    // A team policy cannot offer members what the operator does not.
    await api.call("PUT", "/teams/loc/policy", { token: here.admin, body: { providers: ["local"] } });
    expect((await post(api, "loc", here.member, { yaml: LOCAL, member: "alice" })).status).toBe(403);

    const byAdmin = await post(api, "loc", here.admin, { yaml: LOCAL, member: "root" });
    expect(byAdmin.status).toBe(202);
    const wide = await tokens(open, "loc");
    const byMember = await post(open, "loc", wide.member, { yaml: LOCAL, member: "alice" });
    expect(byMember.status).toBe(202);
    const [a, b] = await Promise.all([
      settled(api, "loc", (byAdmin.body as { stackId: string }).stackId, here.admin, 60_000),
      settled(open, "loc", (byMember.body as { stackId: string }).stackId, wide.member, 60_000),
    ]);
    expect(a.body).toMatchObject({ status: "SUCCEEDED" });
    expect(b.body).toMatchObject({ status: "SUCCEEDED" });
  });

  it("counts a docker server on this machine's engine as sharing the host, and one on a team's Docker host not", async () => {
    const here = await tokens(api, "dock");
    const onHost = "servers:\n  - { name: box, provider: docker, type: container }\n";
    const refused = await post(api, "dock", here.member, { yaml: onHost, member: "alice" });
    expect(refused.status).toBe(403);
    expect(errorOf(refused.body).message).toContain("server `box` (docker)");
    expect(errorOf(refused.body).message).toContain("teamstack serve --allow-local");
    const onTeamHost =
      "servers:\n  - { name: box, provider: docker, type: container, options: { credential: lab } }\n";
    const answer = await post(api, "dock", here.member, { yaml: onTeamHost, member: "alice" });
    // Not refused by the policy: what follows (the team has no such credential) is another answer.
    expect(answer.status).not.toBe(403);
  });
});

describe("the other doors", () => {
  const event = (team: string, id: string) => ({
    id,
    source: "teamstack.teams",
    "detail-type": "Team Member Signed Up",
    detail: { team, member: "dave" },
  });

  it("treats a signup's stack as the member's: refused when its default template uses what members may not", async () => {
    const { admin } = await tokens(api, "sig");
    expect((await api.call("PUT", "/teams/sig/templates/dev", { token: admin, body: LOCAL })).status).toBe(
      201,
    );
    await api.call("POST", "/teams/sig/templates/dev/default", { token: admin });
    const refused = await api.call("POST", "/events", { token: admin, body: event("sig", "evt-sig-1") });
    expect(refused.status).toBe(403);
    expect(errorOf(refused.body).message).toContain("offers them to team admins only");
    expect(await stackIds(api, "sig", admin)).toEqual([]);

    expect((await api.call("PUT", "/teams/sig/templates/dev", { token: admin, body: SIM })).status).toBe(201);
    await api.call("POST", "/teams/sig/templates/dev/default", { token: admin });
    await api.call("PUT", "/teams/sig/policy", { token: admin, body: { providers: ["local"] } });
    const policy = await api.call("POST", "/events", { token: admin, body: event("sig", "evt-sig-2") });
    expect(policy.status).toBe(403);
    expect(errorOf(policy.body).message).toContain("policy does not allow sim");
    await api.call("PUT", "/teams/sig/policy", { token: admin, body: { providers: ["sim"] } });
    const ok = await api.call("POST", "/events", { token: admin, body: event("sig", "evt-sig-3") });
    expect(ok.status).toBe(202);
    await settled(api, "sig", (ok.body as { stackId: string }).stackId, admin);
  });

  it("refuses a rerun under today's policy and role, and still lets the stack be deleted", async () => {
    const { admin, member } = await tokens(api, "rer");
    const sim = await post(api, "rer", admin, { yaml: SIM, member: "alice" });
    const simId = (sim.body as { stackId: string }).stackId;
    // An admin made alice a local stack: alice may not run local servers on this machine herself.
    const local = await post(api, "rer", admin, { yaml: LOCAL, member: "alice" });
    expect(local.status).toBe(202);
    const localId = (local.body as { stackId: string }).stackId;
    await settled(api, "rer", simId, admin);
    await settled(api, "rer", localId, admin, 60_000);

    const mine = await api.call("POST", `/teams/rer/stacks/${localId}/rerun`, { token: member });
    expect(mine.status).toBe(403);
    expect(errorOf(mine.body).message).toContain(`cannot rerun stack \`${localId}\` (DELETE it instead)`);
    expect(errorOf(mine.body).message).toContain("--allow-local");

    await api.call("PUT", "/teams/rer/policy", { token: admin, body: { providers: ["local"] } });
    const rerun = await api.call("POST", `/teams/rer/stacks/${simId}/rerun`, { token: admin });
    expect(rerun.status).toBe(403);
    expect(errorOf(rerun.body).message).toContain("policy does not allow sim");
    const view = await api.call("GET", `/teams/rer/stacks/${simId}`, { token: admin });
    expect(view.body).toMatchObject({ status: "SUCCEEDED", run: 1 });

    expect((await api.call("POST", `/teams/rer/stacks/${localId}/rerun`, { token: admin })).status).toBe(202);
    await settled(api, "rer", localId, admin, 60_000);
    expect((await api.call("DELETE", `/teams/rer/stacks/${simId}`, { token: member })).status).toBe(202);
    expect((await settled(api, "rer", simId, admin)).body).toMatchObject({ status: "DESTROYED" });
  });
});
