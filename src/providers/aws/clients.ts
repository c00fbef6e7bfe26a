import type { EC2Client } from "@aws-sdk/client-ec2";
import type { SSMClient } from "@aws-sdk/client-ssm";
import type { AwsCredentials } from "./credentials.ts";
import { loadEc2, loadSsm } from "./sdk.ts";

/** The clients the provider uses in a team's account, in one region. */
export interface AwsClients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
}

export interface ClientTarget {
  readonly region: string;
  /** Called by the clients whenever they need credentials (the source renews them before expiry). */
  readonly credentials: () => Promise<AwsCredentials>;
  /** Identifies the credentials (role and session, or secret): clients are cached under it and the region. */
  readonly key: string;
}

/** Makes (or reuses) the clients for a credential in a region; tests pass one returning mocked clients. */
export type AwsClientFactory = (target: ClientTarget) => AwsClients | Promise<AwsClients>;

/** Clients kept per process: one pair per credential session and region, the oldest dropped past this. */
const MAX_CLIENTS = 64;

/** The SDK clients, cached per credential session and region. */
export function sdkClientFactory(): AwsClientFactory {
  const cache = new Map<string, AwsClients>();
  return async (target) => {
    const key = `${target.key}|${target.region}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const [{ EC2Client }, { SSMClient }] = await Promise.all([loadEc2(), loadSsm()]);
    const again = cache.get(key);
    if (again) return again;
    const config = { region: target.region, credentials: target.credentials };
    const clients = { ec2: new EC2Client(config), ssm: new SSMClient(config) };
    if (cache.size >= MAX_CLIENTS) {
      const oldest = cache.keys().next().value as string;
      const old = cache.get(oldest);
      old?.ec2.destroy();
      old?.ssm.destroy();
      cache.delete(oldest);
    }
    cache.set(key, clients);
    return clients;
  };
}
