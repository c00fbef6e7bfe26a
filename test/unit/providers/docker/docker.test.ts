import { describe, expect, it } from "vitest";
import { parsePortableSize } from "../../../../src/core/capabilities.ts";
import { dockerDeclaration, dockerTypeOf } from "../../../../src/providers/docker/declaration.ts";
import {
  containerName,
  labelFilter,
  limitsOf,
  networkName,
} from "../../../../src/providers/docker/docker-provider.ts";
import {
  describeEndpoint,
  endpointFromCredential,
  endpointFromEnv,
  parseEndpoint,
} from "../../../../src/providers/docker/endpoint.ts";
import { parseLabels } from "../../../../src/providers/docker/factory.ts";
import { frame, StreamDemuxer } from "../../../../src/providers/docker/stream.ts";

describe("docker endpoints", () => {
  it("parses unix sockets, tcp with and without a port, IPv6 and ssh", () => {
    expect(parseEndpoint("unix:///var/run/docker.sock", "x")).toEqual({
      kind: "unix",
      path: "/var/run/docker.sock",
    });
    expect(parseEndpoint("/run/podman/podman.sock", "x")).toEqual({
      kind: "unix",
      path: "/run/podman/podman.sock",
    });
    expect(parseEndpoint("tcp://10.0.0.5:2375", "x")).toEqual({ kind: "tcp", host: "10.0.0.5", port: 2375 });
    expect(parseEndpoint("tcp://docker.example", "x")).toEqual({
      kind: "tcp",
      host: "docker.example",
      port: 2375,
    });
    expect(parseEndpoint("tcp://[::1]:2376", "x", { verify: true })).toEqual({
      kind: "tcp",
      host: "::1",
      port: 2376,
      tls: { verify: true },
    });
    expect(parseEndpoint("tcp://h", "x", { verify: true })).toMatchObject({ port: 2376 });
    expect(parseEndpoint("ssh://ada@build-1:2222", "x")).toEqual({
      kind: "ssh",
      target: "ada@build-1",
      port: 2222,
    });
    expect(parseEndpoint("ssh://build-1", "x")).toEqual({ kind: "ssh", target: "build-1" });
  });

  it("rejects what is no endpoint, naming where it came from and what was expected", () => {
    expect(() => parseEndpoint("localhost:2375", "DOCKER_HOST")).toThrow(
      /DOCKER_HOST: "localhost:2375" is not a Docker endpoint \(no scheme\); expected unix:\/\/\/PATH, tcp:\/\/HOST:PORT/,
    );
    expect(() => parseEndpoint("tcp://h:99999", "x")).toThrow(/port 99999 is out of range/);
    expect(() => parseEndpoint("unix://relative", "x")).toThrow(/absolute path/);
    expect(() => parseEndpoint("npipe:////./pipe/docker", "x")).toThrow(/unknown scheme npipe/);
    expect(() => parseEndpoint("ssh://a b", "x")).toThrow(/USER@/);
  });

  it("follows the Docker CLI's environment: DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH", () => {
    const files: Record<string, string> = {
      "/certs/ca.pem": "CA",
      "/certs/cert.pem": "CERT",
      "/certs/key.pem": "KEY",
    };
    const read = (p: string) => files[p];
    expect(endpointFromEnv({}, read)).toEqual({ kind: "unix", path: "/var/run/docker.sock" });
    expect(
      endpointFromEnv(
        { DOCKER_HOST: "tcp://h:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs" },
        read,
      ),
    ).toEqual({
      kind: "tcp",
      host: "h",
      port: 2376,
      tls: { verify: true, ca: "CA", cert: "CERT", key: "KEY" },
    });
    expect(endpointFromEnv({ DOCKER_HOST: "tcp://h:2376", DOCKER_TLS: "1", HOME: "/nowhere" }, read)).toEqual(
      {
        kind: "tcp",
        host: "h",
        port: 2376,
        tls: { verify: false },
      },
    );
    expect(endpointFromEnv({ DOCKER_HOST: "tcp://h:2375" }, read)).toEqual({
      kind: "tcp",
      host: "h",
      port: 2375,
    });
  });

  it("reads a team's credential: TLS needs all three of ca, cert and key, and only on tcp", () => {
    expect(
      endpointFromCredential("lab", { endpoint: "tcp://lab:2376", ca: "A", cert: "C", key: "K" }),
    ).toEqual({
      kind: "tcp",
      host: "lab",
      port: 2376,
      tls: { verify: true, ca: "A", cert: "C", key: "K" },
    });
    expect(() => endpointFromCredential("lab", { endpoint: "tcp://lab:2376", ca: "A" })).toThrow(
      /credential `lab`: TLS needs `ca`, `cert` and `key`; `cert` and `key` are missing/,
    );
    expect(() =>
      endpointFromCredential("lab", { endpoint: "unix:///s", ca: "A", cert: "C", key: "K" }),
    ).toThrow(/are for a tcp:\/\/ endpoint, not unix:\/\/\/s/);
    expect(() => endpointFromCredential("lab", {})).toThrow(/credential `lab` has no `endpoint`/);
  });

  it("describes an endpoint without its key", () => {
    const e = endpointFromCredential("lab", {
      endpoint: "tcp://lab:2376",
      ca: "A",
      cert: "C",
      key: "PRIVATE",
    });
    expect(describeEndpoint(e)).toBe("tcp://lab:2376 (TLS)");
    expect(describeEndpoint({ kind: "tcp", host: "::1", port: 1 })).toBe("tcp://[::1]:1");
  });
});

describe("the Engine's multiplexed stream", () => {
  it("demultiplexes stdout and stderr frames cut at any byte", () => {
    const whole = Buffer.concat([
      frame(1, Buffer.from("out one\n")),
      frame(2, Buffer.from("err\n")),
      frame(1, Buffer.from("é and more")),
    ]);
    for (let cut = 1; cut < whole.length; cut++) {
      const seen: string[] = [];
      const out: Buffer[] = [];
      const d = new StreamDemuxer((stream, data) => {
        seen.push(String(stream));
        if (stream === 1) out.push(data);
      });
      d.push(whole.subarray(0, cut));
      d.push(whole.subarray(cut));
      expect(Buffer.concat(out).toString("utf8")).toBe("out one\né and more");
      expect(seen.filter((s) => s === "2")).toHaveLength(1);
      expect(d.leftover).toBe(0);
    }
  });

  it("keeps an incomplete frame as leftover", () => {
    const d = new StreamDemuxer(() => undefined);
    d.push(frame(1, Buffer.from("abcdef")).subarray(0, 10));
    expect(d.leftover).toBe(10);
  });
});

describe("docker labels, names and sizes", () => {
  it("writes the Engine's label filter", () => {
    expect(
      JSON.parse(labelFilter({ "io.teamstack.stack": "s1", "io.teamstack.server": "db", flag: undefined })),
    ).toEqual({
      label: ["io.teamstack.stack=s1", "io.teamstack.server=db", "flag"],
    });
  });

  it("names containers per attempt and networks per stack, within the Engine's name rules", () => {
    const a = containerName("stack-1", "web", "stack-1.web.1");
    expect(a).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/);
    expect(containerName("stack-1", "web", "stack-1.web.2")).not.toBe(a);
    expect(containerName("stack-1", "web", "stack-1.web.1")).toBe(a);
    expect(networkName("stack-1")).toBe(networkName("stack-1"));
    expect(networkName("stack-1")).not.toBe(networkName("stack-2"));
  });

  it("maps portable sizes to CPU and memory limits", () => {
    const size = parsePortableSize("2cpu/4gb-ram/40gb-disk");
    if (typeof size === "string") throw new Error(size);
    expect(dockerTypeOf(size)).toBe("container-2cpu-4096mb");
    expect(dockerDeclaration.capabilities.nativeType.test("container-2cpu-4096mb")).toBe(true);
    expect(limitsOf("2cpu/4gb-ram")).toEqual({ NanoCpus: 2_000_000_000, Memory: 4096 * 1024 * 1024 });
    expect(limitsOf("1gb-ram")).toEqual({ Memory: 1024 * 1024 * 1024 });
    expect(limitsOf("container-0.5cpu")).toEqual({ NanoCpus: 500_000_000 });
    expect(limitsOf("container")).toEqual({});
    expect(() => limitsOf("t3.micro")).toThrow(/neither a container type nor a portable size/);
    expect(() => limitsOf("container-1.2.3cpu")).toThrow(/`1.2.3` is not a number of CPUs/);
  });

  it("shares the host only for servers on this machine's own engine", () => {
    const shares = dockerDeclaration.sharesHost;
    expect(typeof shares).toBe("function");
    if (typeof shares !== "function") return;
    expect(shares({})).toBe(true);
    expect(shares({ credential: "lab" })).toBe(false);
  });

  it("parses the operator's extra labels", () => {
    expect(parseLabels("a=1, b.c=x=y")).toEqual({ a: "1", "b.c": "x=y" });
    expect(parseLabels(undefined)).toEqual({});
    expect(() => parseLabels("novalue")).toThrow(/TEAMSTACK_DOCKER_LABELS: "novalue" is not KEY=VALUE/);
  });
});
