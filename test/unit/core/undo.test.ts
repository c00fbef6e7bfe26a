import { describe, expect, it } from "vitest";
import { compileStack } from "../../../src/core/compile.ts";
import { undoSteps } from "../../../src/core/undo.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";

function compile(yaml: string) {
  const { template, plan, problems } = loadTemplate(yaml, "t.yaml", PROVIDERS);
  if (!template || !plan) throw new Error(problems.map((p) => p.message).join("\n"));
  return compileStack(
    template,
    plan,
    { team: "acme", stackId: "st-1", member: "ada", userdata: { gh: "ada-gh" } },
    { hookSecrets: (h) => (h.type === "add_github_user" ? ["github_token"] : []) },
  );
}

const TEMPLATE = `
servers:
  - { name: db, provider: sim, type: t3.micro }
pre_hooks:
  - add_github_user: { org: acme, team_name: backend, user: $koding.userdata.gh }
  - slack_msg: { channel: "#team", msg: "hello" }
  - add_github_user: { org: acme, team_name: alumni, user: $koding.userdata.gh, undo: false }
post_hooks:
  - add_github_user: { org: acme, team_name: ops, user: $koding.userdata.gh, role: maintainer }
destroy_hooks:
  - run_script: { target_server: db, script: "dump $servers.db.IP for $koding.artifact.memberName" }
  - add_github_user: { org: acme, team_name: exit-interviews, user: $koding.userdata.gh }
`;

describe("destroy_hooks and undo steps", () => {
  it("compiles destroy_hooks like post_hooks: stack artifacts rendered, server artifacts kept as references", () => {
    const stack = compile(TEMPLATE);
    expect(stack.destroyHooks.map((h) => [h.phase, h.index, h.type])).toEqual([
      ["destroy", 0, "run_script"],
      ["destroy", 1, "add_github_user"],
    ]);
    expect(stack.destroyHooks[0]?.params.holes).toEqual([
      {
        path: ["script"],
        text: ["dump ", { server: "db", artifact: "IP", raw: "$servers.db.IP" }, " for ada"],
      },
    ]);
    // `undo: false` is the hook's, not a param sent to GitHub.
    const alumni = stack.preHooks[2];
    expect(alumni?.undo).toBe(false);
    expect(alumni?.params.value).toEqual({ org: "acme", team_name: "alumni", user: "$koding.userdata.gh" });
    expect(stack.preHooks[0]?.undo).toBeUndefined();
  });

  it("undoes each add_github_user of pre and post hooks, last first, except undo: false and destroy_hooks", () => {
    const stack = compile(TEMPLATE);
    const steps = undoSteps(
      [...stack.preHooks, ...stack.postHooks, ...stack.destroyHooks].map(({ phase, index, ...spec }) => ({
        phase,
        index,
        spec,
      })),
    );
    expect(steps.map((s) => [s.phase, s.index, s.spec.type, s.spec.undoes])).toEqual([
      ["undo", 0, "add_github_user", { phase: "post", index: 0 }],
      ["undo", 1, "add_github_user", { phase: "pre", index: 0 }],
    ]);
    // The same params (and secrets) as the hook it undoes; a failing undo never stops the destroy.
    expect(steps[1]?.spec.params).toEqual(stack.preHooks[0]?.params);
    expect(steps[1]?.spec.secrets).toEqual(stack.preHooks[0]?.secrets);
    expect(steps.every((s) => s.spec.continueOnError)).toBe(true);
  });

  it("numbers the steps the same way whatever order the records come in", () => {
    const stack = compile(TEMPLATE);
    const records = [...stack.preHooks, ...stack.postHooks].map(({ phase, index, ...spec }) => ({
      phase,
      index,
      spec,
    }));
    expect(undoSteps([...records].reverse())).toEqual(undoSteps(records));
  });

  it("has nothing to undo for a template without add_github_user", () => {
    expect(undoSteps([])).toEqual([]);
    const stack = compile("servers:\n  - { name: db, provider: sim, type: t3.micro }\n");
    expect(stack.destroyHooks).toEqual([]);
  });
});
