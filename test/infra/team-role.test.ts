import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PROJECT_ROOT } from "../../infra/teamstack-stack.ts";
import { TEAM_ROLE_PREFIX } from "../../src/providers/aws/declaration.ts";

// infra/team-role.yaml is what a team deploys in its own account: the role teamstack assumes. It
// must allow every EC2 and SSM call the aws provider makes, and scope each to teamstack's tags.

type Json = Record<string, unknown>;
interface Statement {
  readonly Sid: string;
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Json;
}

const FILE = join(PROJECT_ROOT, "infra", "team-role.yaml");
const text = readFileSync(FILE, "utf8");
const template = parse(text) as { Resources: Record<string, { Type: string; Properties: Json }> };
const role = template.Resources.TeamstackRole?.Properties as Json;
const statements = (role.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
  (p) => p.PolicyDocument.Statement,
);
const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** SSM's commands among those the aws provider sends; the rest of src/providers/aws's are EC2's. */
const SSM = new Set(["SendCommand", "GetCommandInvocation", "CancelCommand", "GetParameter", "PutParameter"]);
/** EC2 Instance Connect's (teamstack shell's one-time key). */
const INSTANCE_CONNECT = new Set(["SendSSHPublicKey"]);
/** Called in teamstack's own account, not the team's. */
const TEAMSTACK_SIDE = new Set(["AssumeRole", "GetSecretValue"]);
/** Actions that accept no resource-level permission: Resource "*" without a condition. */
const NO_RESOURCE_LEVEL = /^(ec2:Describe\w+|ssm:CancelCommand|ssm:GetCommandInvocation)$/;

describe("infra/team-role.yaml", () => {
  it("trusts only the teamstack account, and only with the team's ExternalId", () => {
    const trust = (role.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;
    expect(trust).toEqual([
      {
        Effect: "Allow",
        // CloudFormation's own ${...} substitution, not a template literal.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a Fn::Sub string
        Principal: { AWS: { "Fn::Sub": "arn:${AWS::Partition}:iam::${TeamstackAccountId}:root" } },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "sts:ExternalId": { Ref: "ExternalId" } } },
      },
    ]);
    expect(String(role.RoleName).startsWith(TEAM_ROLE_PREFIX)).toBe(true);
  });

  it("allows every EC2 and SSM call the aws provider makes", () => {
    const dir = join(PROJECT_ROOT, "src", "providers", "aws");
    const commands = new Set<string>();
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      for (const m of readFileSync(join(dir, f), "utf8").matchAll(/new (\w+)Command\(/g)) {
        commands.add(m[1] as string);
      }
    }
    expect(commands.has("RunInstances")).toBe(true);
    expect(commands.has("SendSSHPublicKey")).toBe(true);
    const allowed = new Set(statements.flatMap((s) => list(s.Action)));
    const missing = [...commands]
      .filter((c) => !TEAMSTACK_SIDE.has(c))
      .map((c) => `${SSM.has(c) ? "ssm" : INSTANCE_CONNECT.has(c) ? "ec2-instance-connect" : "ec2"}:${c}`)
      .filter((a) => !allowed.has(a));
    expect(missing).toEqual([]);
  });

  it("scopes every statement to teamstack's tags or named resources, but for actions that cannot be", () => {
    for (const s of statements) {
      expect(s.Effect, s.Sid).toBe("Allow");
      for (const a of list(s.Action)) expect(a, s.Sid).not.toMatch(/\*/);
      if (list(s.Resource).includes("*") && s.Condition === undefined) {
        for (const a of list(s.Action))
          expect(a, `${s.Sid}: ${a} on * without a condition`).toMatch(NO_RESOURCE_LEVEL);
      }
    }
    // What creates, changes, launches or terminates carries a teamstack tag condition.
    const tagged = (s: Statement) => /teamstack:(bootstrap|stack)/.test(JSON.stringify(s.Condition ?? {}));
    for (const sid of [
      "CreateBootstrap",
      "ChangeBootstrap",
      "LaunchTagged",
      "LaunchIntoBootstrap",
      "Terminate",
      "StopStart",
      "ShellKey",
      "RunScriptOnOwnInstances",
    ]) {
      const s = statements.find((x) => x.Sid === sid);
      expect(s && tagged(s), sid).toBe(true);
    }
  });

  it("is what the README's Deploy section shows, up to its statements", () => {
    const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
    const block = /```yaml\n(AWSTemplateFormatVersion[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const lines = (block as string).trimEnd().split("\n");
    expect(lines.at(-1)).toMatch(/^\s*# \.\.\. the statements of infra\/team-role\.yaml/);
    expect(text.startsWith(`${lines.slice(0, -1).join("\n")}\n`)).toBe(true);
  });
});
