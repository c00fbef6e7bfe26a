import type { Node } from "constructs";
import type { FunctionLogLevel } from "./constructs/lambda-function.ts";

/** The CDK context keys teamstack reads (`-c key=value`, or cdk.json / cdk.context.json). */
export const CONTEXT_KEYS = {
  /** The identity provider's issuer URL, as in its tokens' `iss` (https). */
  jwtIssuer: "teamstack:jwtIssuer",
  /** The audience (or comma-separated audiences) the tokens must carry in `aud` (or `client_id`). */
  jwtAudience: "teamstack:jwtAudience",
  /** The functions' application log level (Lambda drops their lines below it): DEBUG, INFO (default), WARN or ERROR. */
  logLevel: "teamstack:logLevel",
  /**
   * The web console's OpenID Connect client id (default: the first audience). Its ID tokens carry it
   * as `aud`, so it is added to the authorizer's audiences when not among them.
   */
  consoleClientId: "teamstack:consoleClientId",
  /** The scopes the console asks for (default `openid profile email`). */
  consoleScope: "teamstack:consoleScope",
} as const;

/**
 * Stand-ins used when no issuer or audience is given, so that `npm run synth` works on a fresh
 * clone. They fail closed: `.invalid` never resolves, so a deployment made with them accepts no
 * token at all (only GET /openapi.json and the readiness callbacks answer).
 */
export const PLACEHOLDER_JWT_ISSUER = "https://issuer.teamstack.invalid";
export const PLACEHOLDER_JWT_AUDIENCE = "teamstack-audience-not-configured";

const LOG_LEVELS: readonly FunctionLogLevel[] = ["DEBUG", "INFO", "WARN", "ERROR"];

/** What a deployment is configured with, from the CDK context. */
export interface DeployConfig {
  readonly jwtIssuer: string;
  readonly jwtAudience: readonly string[];
  readonly logLevel: FunctionLogLevel;
  /** The web console's OpenID Connect client (one of `jwtAudience`) and the scopes it asks for. */
  readonly console: { readonly clientId: string; readonly scope: string };
  /** Context keys that were not given and so hold a placeholder. */
  readonly placeholders: readonly string[];
}

/**
 * Reads teamstack's context keys, with fail-closed placeholders for the JWT settings.
 * @throws Error naming the key, the value found and what is expected, when a value is malformed.
 */
export function readDeployConfig(node: Node): DeployConfig {
  const placeholders: string[] = [];
  const text = (key: string): string | undefined => {
    const value = node.tryGetContext(key) as unknown;
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value !== "string") {
      throw new Error(`context ${key}: expected a string, found ${JSON.stringify(value)}`);
    }
    return value.trim();
  };

  let jwtIssuer = text(CONTEXT_KEYS.jwtIssuer);
  if (jwtIssuer === undefined) {
    placeholders.push(CONTEXT_KEYS.jwtIssuer);
    jwtIssuer = PLACEHOLDER_JWT_ISSUER;
  } else if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(jwtIssuer)) {
    throw new Error(
      `context ${CONTEXT_KEYS.jwtIssuer}: expected the identity provider's https issuer URL (its tokens' \`iss\`), found \`${jwtIssuer}\``,
    );
  }

  const audienceText = text(CONTEXT_KEYS.jwtAudience);
  let jwtAudience: string[];
  if (audienceText === undefined) {
    placeholders.push(CONTEXT_KEYS.jwtAudience);
    jwtAudience = [PLACEHOLDER_JWT_AUDIENCE];
  } else {
    jwtAudience = audienceText.split(",").map((a) => a.trim());
    if (jwtAudience.some((a) => a === "")) {
      throw new Error(
        `context ${CONTEXT_KEYS.jwtAudience}: expected one audience or several separated by commas, found \`${audienceText}\``,
      );
    }
  }

  const level = (text(CONTEXT_KEYS.logLevel) ?? "INFO").toUpperCase();
  if (!LOG_LEVELS.includes(level as FunctionLogLevel)) {
    throw new Error(
      `context ${CONTEXT_KEYS.logLevel}: expected one of ${LOG_LEVELS.join(", ")}, found \`${level}\``,
    );
  }
  const clientId = text(CONTEXT_KEYS.consoleClientId) ?? (jwtAudience[0] as string);
  if (!/^[\x21-\x7e]{1,256}$/.test(clientId)) {
    throw new Error(
      `context ${CONTEXT_KEYS.consoleClientId}: expected the console's client id (visible ASCII, no spaces), found \`${clientId}\``,
    );
  }
  // The console's ID tokens are its bearer tokens: the authorizer must accept their audience.
  if (!jwtAudience.includes(clientId)) jwtAudience.push(clientId);
  const scope = text(CONTEXT_KEYS.consoleScope) ?? "openid profile email";
  if (!scope.split(/\s+/).includes("openid")) {
    throw new Error(
      `context ${CONTEXT_KEYS.consoleScope}: expected scopes including \`openid\`, found \`${scope}\``,
    );
  }
  return {
    jwtIssuer,
    jwtAudience,
    logLevel: level as FunctionLogLevel,
    console: { clientId, scope },
    placeholders,
  };
}
