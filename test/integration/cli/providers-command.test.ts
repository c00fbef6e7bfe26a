import { describe, expect, it } from "vitest";
import { providersInfo } from "../../../src/core/provider-info.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { runCli } from "../../support/cli.ts";

describe("teamstack providers", () => {
  it("prints every provider of the registry as JSON with --json, and as blocks on a terminal", async () => {
    const json = await runCli(["providers", "--json"], 60_000);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(providersInfo(PROVIDERS));
    const text = await runCli(["providers"], 60_000);
    expect(text.code).toBe(0);
    for (const d of PROVIDERS.declarations) {
      expect(text.stdout).toContain(`${d.name}${d.simulator ? " (simulator)" : ""}: ${d.summary}\n`);
    }
    expect(text.stdout).toMatch(/^ {2}verbs +create, waitUntilReady, runScript, destroy/m);
    const wrong = await runCli(["providers", "extra"], 60_000);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("providers takes no arguments");
  });
});
