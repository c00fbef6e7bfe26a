import { ERROR_NAMES } from "../../src/core/error-names.ts";
import { TeamstackError } from "../../src/core/errors.ts";

/** A Lambda started without the configuration it needs. */
export class MissingConfigurationError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.MissingConfigurationError;
  }
}

/**
 * Reads a required environment variable: the only place handlers read the environment.
 * @throws MissingConfigurationError naming the variable when it is missing or empty.
 */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new MissingConfigurationError(
      `environment variable ${name} is not set; the deployment must set it`,
    );
  }
  return value;
}

/**
 * Reads an optional environment variable: empty when it is missing. Handlers read the environment
 * only through this and requireEnv.
 */
export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return env[name] ?? "";
}
