import { createMasker } from "../core/mask.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { RunContext } from "../ports/store.ts";

/** The secrets a run uses, read for one task: member secrets for `$koding.userdata.*`, and a mask. */
export interface RunSecrets {
  /** The member's secrets the stack references, by key (keys with no secret are absent). */
  readonly userdata: Readonly<Record<string, string>>;
  /** Replaces every secret value read (the member's, and the team's unless left out) with `***`. */
  readonly mask: (text: string) => string;
}

/**
 * Reads the secrets a run uses, at the last moment, inside the task that needs them: the member's
 * secrets behind the stack's `$koding.userdata.*` keys and, for the mask, the team secrets its
 * hooks use (`team: false` leaves those out, for a task that only renders). The names come from
 * the run's context on the task's own record; a record without one (written before contexts were
 * stored) reads nothing.
 */
export async function runSecrets(
  secrets: Secrets,
  team: string,
  context: RunContext | undefined,
  options: { readonly team?: boolean } = {},
): Promise<RunSecrets> {
  const userdata: Record<string, string> = {};
  const values: string[] = [];
  if (context) {
    await Promise.all(
      context.secrets.userdata.map(async (k) => {
        const v = await secrets.get({ team, member: context.member }, k);
        if (v !== undefined) {
          userdata[k] = v;
          values.push(v);
        }
      }),
    );
    if (options.team !== false) {
      await Promise.all(
        context.secrets.team.map(async (n) => {
          const v = await secrets.get({ team }, n);
          if (v !== undefined) values.push(v);
        }),
      );
    }
  }
  return { userdata, mask: createMasker(values) };
}
