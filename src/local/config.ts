import type { HookEndpoints } from "../hooks/context.ts";
import { EGRESS_ALLOW_VARIABLE, parseEgressAllow } from "../hooks/egress.ts";

/** The local runtime's settings from its environment: the one place it reads variables. */
export interface LocalConfig {
  /** TEAMSTACK_SECRETS_KEY: the key sealing local secrets (else one kept under the state directory). */
  readonly secretsKey?: string;
  /** TEAMSTACK_GITHUB_URL, TEAMSTACK_SLACK_URL, TEAMSTACK_X_URL: where hooks send requests. */
  readonly hookEndpoints: Partial<HookEndpoints>;
  /**
   * TEAMSTACK_EGRESS_ALLOW: address ranges a template's webhook may reach although the egress
   * policy refuses them by default (`127.0.0.1/32,10.20.0.0/16`); empty when unset.
   */
  readonly egressAllow: string;
}

/**
 * Reads the local runtime's variables.
 * @throws EgressConfigError naming every bad entry of TEAMSTACK_EGRESS_ALLOW.
 */
export function localConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const url = (name: string) => {
    const v = env[name];
    return v !== undefined && v !== "" ? v.replace(/\/+$/, "") : undefined;
  };
  const github = url("TEAMSTACK_GITHUB_URL");
  const slack = url("TEAMSTACK_SLACK_URL");
  const x = url("TEAMSTACK_X_URL");
  const egressAllow = env[EGRESS_ALLOW_VARIABLE] ?? "";
  // Checked here, at start, so a typo stops the command before any stack runs.
  parseEgressAllow(egressAllow);
  return {
    ...(env.TEAMSTACK_SECRETS_KEY ? { secretsKey: env.TEAMSTACK_SECRETS_KEY } : {}),
    hookEndpoints: { ...(github ? { github } : {}), ...(slack ? { slack } : {}), ...(x ? { x } : {}) },
    egressAllow,
  };
}
