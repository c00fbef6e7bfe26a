import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { lineCount, lineStarts, offsetIn, offsetOf } from "../../../web/src/editor/positions.ts";
import type { ValidateResponse } from "../../../web/src/editor/protocol.ts";
import { validateTemplateText } from "../../../web/src/editor/validate.ts";
import { createValidator } from "../../../web/src/editor/validator-client.ts";
import { bundleValidatorWorker } from "../../../web/src/editor/worker-plugin.ts";

const BAD = `servers:
  - name: db
    provider: sim
    type: t3.micro
  - name: web
    provider: sim
    type: t3.micro
    user_data: |
      echo $servers.nosuch.IP >> /etc/config
`;

describe("the browser's validator", () => {
  it("reports a bad reference at its line and column, as publishing does", () => {
    const v = validateTemplateText(BAD, "web.yaml");
    expect(v.problems).toEqual([
      {
        file: "web.yaml",
        line: 9,
        column: 12,
        message: "server `web`: `$servers.nosuch.IP` names unknown server `nosuch`; servers are: db, web",
      },
    ]);
    expect(v.servers).toEqual([]);
    expect(validateTemplateText(BAD.replace("nosuch", "db"), "web.yaml")).toMatchObject({
      problems: [],
      servers: ["db", "web"],
    });
  });

  it("validates on this thread when it has no worker", async () => {
    const validator = createValidator(undefined);
    expect(validator.inWorker).toBe(false);
    const [first, second] = await Promise.all([
      validator.validate(BAD, "a.yaml"),
      validator.validate("servers: [", "a.yaml"),
    ]);
    expect(second.seq).toBeGreaterThan(first.seq);
    expect(second.problems[0]).toMatchObject({ line: 1, column: 10 });
  });

  it("bundles for the browser without Node built-ins or provider code, and runs as a worker", async () => {
    const { body, inputs } = await bundleValidatorWorker(true);
    expect(inputs.filter((i) => i.startsWith("node:") || !/\.(ts|js|mjs|cjs)$/.test(i))).toEqual([]);
    expect(
      inputs.filter((i) => /@aws-sdk|factory\.ts|-provider\.ts|src\/(ports|store|api)\//.test(i)),
    ).toEqual([]);
    expect(inputs.some((i) => i.includes("src/core/validate.ts"))).toBe(true);
    // Every provider the registry lists, from its declaration alone (the registry is the one list).
    for (const d of PROVIDERS.declarations)
      expect(inputs, d.name).toContain(`src/providers/${d.name}/declaration.ts`);
    // About 145 KB minified (the yaml package is two thirds of it); a jump means something new came in.
    expect(body.byteLength).toBeLessThan(200_000);

    // The bundle in a bare context with only what a worker has: no require, no process, no Buffer.
    const answers: ValidateResponse[] = [];
    const settled = new Promise<void>((resolve) => {
      const scope: Record<string, unknown> = {
        postMessage: (m: ValidateResponse) => {
          answers.push(m);
          resolve();
        },
        setTimeout,
        TextDecoder,
        TextEncoder,
        performance,
      };
      scope.globalThis = scope;
      scope.self = scope;
      runInNewContext(new TextDecoder().decode(body), scope);
      const onmessage = scope.onmessage as (e: { data: unknown }) => void;
      // A burst: only the newest is validated.
      onmessage({ data: { seq: 1, text: "servers: [", file: "t.yaml" } });
      onmessage({ data: { seq: 2, text: BAD, file: "t.yaml" } });
    });
    await settled;
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ seq: 2, problems: [{ line: 9, column: 12 }] });
  });
});

describe("offsetOf", () => {
  it("finds a line and column, clamped to the line and the text", () => {
    const text = "ab\ncde\n\nf";
    expect(offsetOf(text, 1, 1)).toBe(0);
    expect(offsetOf(text, 2, 2)).toBe(4);
    expect(offsetOf(text, 2, 99)).toBe(6);
    expect(offsetOf(text, 3, 1)).toBe(7);
    expect(offsetOf(text, 4, 1)).toBe(8);
    expect(offsetOf(text, 9, 1)).toBe(text.length);
    expect(text.slice(offsetOf(BAD, 9, 12)).startsWith("$servers.nosuch.IP")).toBe(false);
    expect(BAD.slice(offsetOf(BAD, 9, 12)).startsWith("$servers.nosuch.IP")).toBe(true);
    expect([lineCount(""), lineCount("a\n"), lineCount(text)]).toEqual([1, 2, 4]);
  });
});

describe("offsetIn", () => {
  it("agrees with offsetOf everywhere", () => {
    const text = "ab\ncde\n\nf";
    const starts = lineStarts(text);
    for (let line = 1; line <= 6; line++) {
      for (let column = 1; column <= 5; column++) {
        expect(offsetIn(text, starts, line, column)).toBe(offsetOf(text, line, column));
      }
    }
  });
});
