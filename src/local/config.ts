import type { HookEndpoints } from "../hooks/context.ts";

/** The local runtime's settings from its environment: the one place it reads variables. */
export interface LocalConfig {
  /** TEAMSTACK_SECRETS_KEY: the key sealing local secrets (else one kept under the state directory). */
  readonly secretsKey?: string;
  /** TEAMSTACK_GITHUB_URL, TEAMSTACK_SLACK_URL, TEAMSTACK_X_URL: where hooks send requests. */
  readonly hookEndpoints: Partial<HookEndpoints>;
}

export function localConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const url = (name: string) => {
    const v = env[name];
    return v !== undefined && v !== "" ? v.replace(/\/+$/, "") : undefined;
  };
  const github = url("TEAMSTACK_GITHUB_URL");
  const slack = url("TEAMSTACK_SLACK_URL");
  const x = url("TEAMSTACK_X_URL");
  return {
    ...(env.TEAMSTACK_SECRETS_KEY ? { secretsKey: env.TEAMSTACK_SECRETS_KEY } : {}),
    hookEndpoints: { ...(github ? { github } : {}), ...(slack ? { slack } : {}), ...(x ? { x } : {}) },
  };
}
