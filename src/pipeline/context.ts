import { stackArtifactValues } from "../core/compiled.ts";
import type { ProviderCatalog } from "../core/providers.ts";
import type { ProviderName } from "../core/template.ts";
import type { HookRunner } from "../ports/hook.ts";
import type { EventPublisher, Executions, Readiness, TaskTokens } from "../ports/orchestration.ts";
import type { Provider } from "../ports/provider.ts";
import type { ExpirySchedules } from "../ports/schedules.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { ServerLogs } from "../ports/server-logs.ts";
import type { ServerRecord, StackKey, StackRecord, StackRuns } from "../ports/store.ts";
import { StackNotFoundError } from "../store/errors.ts";

/**
 * What the task functions work with; built once per cold start (or once per local process). Each
 * task takes only the part it uses (a `Pick` of this), so a Lambda builds and bundles no more.
 */
export interface PipelineDeps {
  readonly store: StackRuns;
  /** The provider for a provider name. */
  readonly provider: (name: ProviderName) => Provider;
  /** The providers templates validate against (and which one simulates the others). */
  readonly catalog: ProviderCatalog;
  readonly tokens: TaskTokens;
  readonly readiness: Readiness;
  readonly executions: Executions;
  readonly hooks: HookRunner;
  readonly events: EventPublisher;
  readonly secrets: Secrets;
  readonly now: () => Date;
  /**
   * The one-time schedules that fire stacks' ttl and auto_stop (EventBridge Scheduler in AWS);
   * absent where something else reads the stacks' expiry fields (`teamstack serve`).
   */
  readonly schedules?: ExpirySchedules;
  /** Where on_start's and hooks' output is kept, attempt by attempt; absent: not kept. */
  readonly logs?: ServerLogs;
}

export function keyOf(input: StackKey): StackKey {
  return { team: input.team, stackId: input.stackId };
}

export async function getStack(deps: Pick<PipelineDeps, "store">, key: StackKey): Promise<StackRecord> {
  const stack = await deps.store.getStack(key);
  if (!stack) throw new StackNotFoundError(key.team, key.stackId);
  return stack;
}

/** The provider a server runs on in this stack: the catalog's simulator for a simulated provider. */
export function providerOf(
  stack: Pick<StackRecord, "simulate">,
  provider: ProviderName,
  catalog: ProviderCatalog,
): ProviderName {
  const simulator = catalog.simulator?.name;
  return simulator !== undefined && stack.simulate.includes(provider) ? simulator : provider;
}

/** Stack artifacts known once every server is ready. */
export function stackArtifacts(stack: StackRecord): Record<string, string> {
  return stackArtifactValues(stack);
}

/** Reads the message of a Catch `Cause`: plain locally, a JSON string from Lambda in AWS. */
export function causeMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === "string") return parsed.errorMessage;
  } catch {
    // plain text
  }
  return cause;
}

export function iso(deps: Pick<PipelineDeps, "now">): string {
  return deps.now().toISOString();
}

/** At most this many servers' reasons go into a run's failure message; the rest are named only. */
const MAX_NAMED = 20;
const MAX_REASON = 300;

/**
 * "N servers not ready: a (FAILED: why); ...; and c, d": the servers a run left behind, bounded
 * whatever their number and the length of their errors (the records hold the whole story).
 */
export function serversLeft(
  records: readonly Pick<ServerRecord, "name" | "status" | "error">[],
  what: string,
): string {
  const named = records
    .slice(0, MAX_NAMED)
    .map((r) => `${r.name} (${r.status}${r.error ? `: ${truncate(r.error, MAX_REASON)}` : ""})`);
  const rest =
    records.length > MAX_NAMED
      ? `; and ${records
          .slice(MAX_NAMED)
          .map((r) => r.name)
          .join(", ")}`
      : "";
  return `${records.length} server${records.length === 1 ? "" : "s"} ${what}: ${named.join("; ")}${rest}`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
