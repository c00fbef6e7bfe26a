import { looksPortable, type PortableSize, parsePortableSize } from "../../core/capabilities.ts";
import { ProviderRequestError } from "../errors.ts";

/**
 * Instance types for portable sizes (`4gb-ram/40gb-disk`, `2cpu/4gb-ram`): the cheapest offering
 * with at least the CPUs and memory asked for. Burstable t3 up to 8 vCPUs, general-purpose m6i
 * above; both are in every commercial region.
 */

export interface InstanceOffering {
  readonly type: string;
  readonly cpu: number;
  readonly ramMb: number;
}

/** Cheapest first: the first that fits is the nearest offering. */
export const PORTABLE_OFFERINGS: readonly InstanceOffering[] = [
  { type: "t3.nano", cpu: 2, ramMb: 512 },
  { type: "t3.micro", cpu: 2, ramMb: 1024 },
  { type: "t3.small", cpu: 2, ramMb: 2048 },
  { type: "t3.medium", cpu: 2, ramMb: 4096 },
  { type: "t3.large", cpu: 2, ramMb: 8192 },
  { type: "t3.xlarge", cpu: 4, ramMb: 16384 },
  { type: "t3.2xlarge", cpu: 8, ramMb: 32768 },
  { type: "m6i.4xlarge", cpu: 16, ramMb: 65536 },
  { type: "m6i.8xlarge", cpu: 32, ramMb: 131072 },
  { type: "m6i.12xlarge", cpu: 48, ramMb: 196608 },
  { type: "m6i.16xlarge", cpu: 64, ramMb: 262144 },
  { type: "m6i.24xlarge", cpu: 96, ramMb: 393216 },
  { type: "m6i.32xlarge", cpu: 128, ramMb: 524288 },
];

/** The type a portable size that names neither CPUs nor memory gets (`40gb-disk`). */
export const DEFAULT_INSTANCE_TYPE = "t3.micro";

export interface ResolvedType {
  readonly instanceType: string;
  /** Root volume size the type asked for (a portable size's `gb-disk`), if any. */
  readonly diskGb?: number;
  readonly architecture: "x86_64" | "arm64";
}

/**
 * The EC2 instance type (and disk size) for a server's `type`: a native type as given, or a
 * portable size mapped to the nearest offering.
 * @throws ProviderRequestError for a malformed size or one larger than any offering.
 */
export function resolveInstanceType(type: string): ResolvedType {
  if (!looksPortable(type)) return { instanceType: type, architecture: architectureOf(type) };
  const size = parsePortableSize(type);
  if (typeof size === "string") throw new ProviderRequestError(`type \`${type}\`: ${size}`);
  const instanceType = nearestOffering(size, type);
  return {
    instanceType,
    ...(size.diskGb !== undefined ? { diskGb: Math.ceil(size.diskGb) } : {}),
    architecture: "x86_64",
  };
}

function nearestOffering(size: PortableSize, type: string): string {
  const fit = offeringFor(size);
  if (!fit) throw new ProviderRequestError(`type \`${type}\` ${tooLargeForOfferings()}`);
  return fit;
}

/** The instance type a portable size maps to: the cheapest offering with enough CPUs and memory. */
export function offeringFor(size: PortableSize): string | undefined {
  if (size.cpu === undefined && size.ramMb === undefined) return DEFAULT_INSTANCE_TYPE;
  return PORTABLE_OFFERINGS.find((o) => o.cpu >= (size.cpu ?? 0) && o.ramMb >= (size.ramMb ?? 0))?.type;
}

/** Why a size no offering fits is refused (after "type `X`"). */
export function tooLargeForOfferings(): string {
  const largest = PORTABLE_OFFERINGS[PORTABLE_OFFERINGS.length - 1] as InstanceOffering;
  return `is larger than any aws offering teamstack maps sizes to (the largest is ${largest.type}: ${largest.cpu} vCPUs, ${largest.ramMb / 1024} GB); give an EC2 instance type instead`;
}

/**
 * The CPU architecture of an EC2 instance type: Graviton families carry a `g` after the generation
 * (`t4g`, `m7gd`, `c7gn`), and `a1` is the first Graviton; everything else is x86_64.
 */
export function architectureOf(instanceType: string): "x86_64" | "arm64" {
  const family = instanceType.split(".")[0] ?? "";
  if (family === "a1") return "arm64";
  const m = /^[a-z]+\d+([a-z-]*)$/.exec(family);
  return m?.[1]?.includes("g") ? "arm64" : "x86_64";
}
