import { describe, expect, it } from "vitest";
import { architectureOf, resolveInstanceType } from "../../../../src/providers/aws/sizes.ts";
import { ProviderRequestError } from "../../../../src/providers/errors.ts";

describe("portable sizes on aws", () => {
  it("maps each size to the cheapest t3/m6i offering with at least its CPUs and memory", () => {
    const cases: [string, string][] = [
      ["512mb-ram", "t3.nano"],
      ["1gb-ram", "t3.micro"],
      ["2gb-ram", "t3.small"],
      ["4gb-ram/40gb-disk", "t3.medium"],
      ["2cpu/4gb-ram", "t3.medium"],
      ["3gb-ram", "t3.medium"],
      ["8gb-ram", "t3.large"],
      ["4cpu", "t3.xlarge"],
      ["4cpu/20gb-ram", "t3.2xlarge"],
      ["16cpu/32gb-ram", "m6i.4xlarge"],
      ["64cpu", "m6i.16xlarge"],
      ["100gb-disk", "t3.micro"],
    ];
    for (const [size, type] of cases) expect(resolveInstanceType(size).instanceType, size).toBe(type);
  });

  it("carries the disk of a size and leaves a native type as given", () => {
    expect(resolveInstanceType("4gb-ram/40gb-disk")).toEqual({
      instanceType: "t3.medium",
      diskGb: 40,
      architecture: "x86_64",
    });
    expect(resolveInstanceType("m2.xlarge")).toEqual({ instanceType: "m2.xlarge", architecture: "x86_64" });
    expect(resolveInstanceType("c7g.large")).toEqual({ instanceType: "c7g.large", architecture: "arm64" });
  });

  it("refuses a size larger than any offering, naming the largest", () => {
    expect(() => resolveInstanceType("256cpu")).toThrow(ProviderRequestError);
    expect(() => resolveInstanceType("1024gb-ram")).toThrow(/m6i\.32xlarge: 128 vCPUs, 512 GB/);
    expect(() => resolveInstanceType("4gb-ram/4gb-ram")).toThrow(/twice/);
  });

  it("tells Graviton types from x86 ones", () => {
    for (const t of ["t4g.micro", "m7gd.large", "c7gn.xlarge", "a1.medium", "im4gn.large", "r8g.large"]) {
      expect(architectureOf(t), t).toBe("arm64");
    }
    for (const t of ["t3.micro", "m6i.large", "g4dn.xlarge", "m7i-flex.large", "t2.micro", "inf2.xlarge"]) {
      expect(architectureOf(t), t).toBe("x86_64");
    }
  });
});
