import { DescribeInstancesCommand, StartInstancesCommand, StopInstancesCommand } from "@aws-sdk/client-ec2";
import { beforeEach, describe, expect, it } from "vitest";
import { AwsApiError } from "../../../../src/providers/aws/errors.ts";
import { ServerNotFoundError } from "../../../../src/providers/errors.ts";
import { ec2, instance, resetMocks, testProvider } from "./support.ts";

// Stop and start of the aws provider at the SDK boundary: EC2 StopInstances / StartInstances
// through the team's role, waiting for the instance's state, the private address kept and the
// new public one answered.

const OPTIONS = { region: "us-west-2" };
const REF = { team: "acme", stackId: "st-1", server: "web", options: OPTIONS, id: "i-0abc" };

/** DescribeInstances answers these states of i-0abc, one per call, the last one for ever after. */
function states(...list: Parameters<typeof instance>[0][]): void {
  const replies = list.map((s) => ({
    Reservations: [{ Instances: [instance({ InstanceId: "i-0abc", ...s })] }],
  }));
  let calls = 0;
  ec2
    .on(DescribeInstancesCommand, { InstanceIds: ["i-0abc"] })
    .callsFake(async () => replies[Math.min(calls++, replies.length - 1)]);
}

beforeEach(() => {
  resetMocks();
});

describe("aws provider: stop", () => {
  it("stops the instance in the server's region and waits until it is stopped", async () => {
    ec2.on(StopInstancesCommand).resolves({});
    states(
      {},
      { State: { Name: "stopping" } },
      { State: { Name: "stopping" } },
      { State: { Name: "stopped" } },
    );
    const { provider, targets, time } = testProvider({ pollMs: 1000 });
    await provider.stop?.(REF);
    expect(ec2.commandCalls(StopInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceIds: ["i-0abc"] },
    ]);
    expect(targets.at(-1)?.region).toBe("us-west-2");
    expect(time.sleeps).toEqual([1000, 1000]);
  });

  it("does not stop a stopped instance again, and refuses a terminated one naming it", async () => {
    states({ State: { Name: "stopped" } });
    const { provider } = testProvider();
    await provider.stop?.(REF);
    expect(ec2.commandCalls(StopInstancesCommand)).toHaveLength(0);
    ec2.reset();
    resetMocks();
    states({ State: { Name: "terminated" } });
    await expect(provider.stop?.(REF)).rejects.toThrow(ServerNotFoundError);
    await expect(provider.stop?.(REF)).rejects.toThrow(/i-0abc: it is terminated/);
  });

  it("gives up after stateWaitMs with the state it is stuck in", async () => {
    ec2.on(StopInstancesCommand).resolves({});
    states({ State: { Name: "stopping" } });
    const { provider } = testProvider({ pollMs: 1000, stateWaitMs: 5000 });
    const error = await provider.stop?.(REF).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsApiError);
    expect((error as Error).message).toMatch(/still stopping after 5 s; expected stopped/);
  });
});

describe("aws provider: start", () => {
  it("starts the instance, waits until it runs with its new public address, and answers the artifacts as they are now", async () => {
    ec2.on(StartInstancesCommand).resolves({});
    states(
      { State: { Name: "stopped" }, PublicIpAddress: undefined, PublicDnsName: "" },
      { State: { Name: "pending" }, PublicIpAddress: undefined, PublicDnsName: "" },
      {
        State: { Name: "running" },
        PublicIpAddress: "198.51.100.7",
        PublicDnsName: "ec2-198-51-100-7.example",
      },
    );
    const { provider } = testProvider({ pollMs: 1000 });
    const artifacts = await provider.start?.(REF);
    expect(ec2.commandCalls(StartInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceIds: ["i-0abc"] },
    ]);
    expect(artifacts).toEqual({
      Id: "i-0abc",
      IP: "198.51.100.7",
      PrivateIP: "10.77.0.10",
      PublicIP: "198.51.100.7",
      Hostname: "ec2-198-51-100-7.example",
      Provider: "aws",
      Type: "t3.micro",
      Region: "us-west-2",
    });
  });

  it("waits for a stopping instance to stop before it starts it, and leaves a running one as it is", async () => {
    ec2.on(StartInstancesCommand).resolves({});
    states({ State: { Name: "stopping" } }, { State: { Name: "stopped" } }, { State: { Name: "running" } });
    const { provider } = testProvider({ pollMs: 1000 });
    await provider.start?.(REF);
    expect(ec2.commandCalls(StartInstancesCommand)).toHaveLength(1);
    resetMocks();
    states({ State: { Name: "running" } });
    await provider.start?.(REF);
    expect(ec2.commandCalls(StartInstancesCommand)).toHaveLength(0);
  });

  it("translates EC2's refusal into the provider's error, naming the instance and the server", async () => {
    ec2
      .on(StartInstancesCommand)
      .rejects(Object.assign(new Error("not in a state to start"), { name: "IncorrectInstanceState" }));
    states({ State: { Name: "stopped" } });
    const { provider } = testProvider();
    await expect(provider.start?.(REF)).rejects.toThrow(
      /StartInstances i-0abc \(server `web`\) in us-west-2/,
    );
  });
});
