import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { esbuildOptions, PROVIDERS_LEFT_OUT } from "../../infra/constructs/lambda-function.ts";
import {
  providerNeeds,
  signsReadinessCallbacks,
  TASK_ACCESS,
} from "../../infra/constructs/task-functions.ts";
import { PROJECT_ROOT } from "../../infra/teamstack-stack.ts";
import { PROVIDERS } from "../../src/providers/registry.ts";

// What the deployment grants for providers, and what it bundles of them, is read off the registry.

describe("the deployment's providers", () => {
  it("grants what the registry's Lambda providers declare, and nothing for a registry that asks for nothing", () => {
    const needs = providerNeeds();
    expect(needs.grants.map((g) => g.actions)).toEqual([["sts:AssumeRole"]]);
    expect(needs.readsCredentialSecrets).toBe(true);
    expect(needs.signsReadinessCallbacks).toBe(true);
    const simOnly = providerNeeds(PROVIDERS.declarations.filter((d) => d.simulator === true));
    expect(simOnly).toEqual({ grants: [], readsCredentialSecrets: false, signsReadinessCallbacks: false });
    const createServer = TASK_ACCESS["create-server"];
    if (!createServer) throw new Error("no create-server access");
    expect(signsReadinessCallbacks(createServer, simOnly)).toBe(false);
    expect(signsReadinessCallbacks(createServer, needs)).toBe(true);
  });

  it("leaves the code of providers that do not run in Lambda out of the bundles", async () => {
    expect(PROVIDERS_LEFT_OUT).toEqual(
      PROVIDERS.declarations.filter((d) => !d.runsIn.includes("lambda")).map((d) => `./${d.name}/factory.ts`),
    );
    const dir = mkdtempSync(join(tmpdir(), "teamstack-bundle-"));
    try {
      const out = join(dir, "create-server.mjs");
      await build(esbuildOptions(join(PROJECT_ROOT, "lambdas", "create-server", "handler.ts"), out));
      const bundle = readFileSync(out, "utf8");
      // The local provider's sandboxes need bubblewrap; its code names it.
      expect(bundle).not.toContain("bwrap");
      expect(bundle).toContain("RunInstances");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
