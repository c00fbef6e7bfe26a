import { readdirSync, readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { templateSchema } from "../../../src/core/schema.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";

const root = new URL("../../../", import.meta.url);
const committed = JSON.parse(readFileSync(new URL("schema/stack-template.schema.json", root), "utf8"));
const validate = new Ajv({ strict: false, allErrors: true }).compile(committed);

describe("the template JSON Schema", () => {
  it("matches the validation tables (run `npm run schema` after changing them)", () => {
    expect(committed).toEqual(templateSchema(PROVIDERS));
  });

  it("accepts every example template", () => {
    const dir = new URL("examples/", root);
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const text = readFileSync(new URL(f, dir), "utf8");
      expect(text, `${f} names the schema for editors`).toMatch(
        /^# yaml-language-server: \$schema=\.\.\/schema\/stack-template\.schema\.json$/m,
      );
      const ok = validate(parse(text));
      expect(validate.errors ?? [], f).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  it.each([
    ["an unknown provider", "servers: [{ name: a, provider: virtualbox, type: t3.micro }]"],
    [
      "an unknown hook parameter",
      "servers: [{ name: a, provider: sim, type: x }]\npost_hooks: [{ slack_msg: { msg: hi, chanel: x } }]",
    ],
    [
      "an option the provider lacks",
      "servers: [{ name: a, provider: local, type: sandbox, options: { firewall: [] } }]",
    ],
    [
      "a hook with two types",
      "servers: [{ name: a, provider: sim, type: x }]\npost_hooks: [{ slack_msg: { msg: hi }, send_tweet: { msg: hi } }]",
    ],
    ["a missing server type", "servers: [{ name: a, provider: sim }]"],
  ])("rejects %s", (_what, yaml) => {
    expect(validate(parse(yaml))).toBe(false);
  });
});
