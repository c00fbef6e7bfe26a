/**
 * The Secrets port: team secrets (service tokens, keys) and member secrets (`$koding.userdata.X`
 * values that must not be stored in the clear). Secrets Manager in AWS; locally an encrypted file
 * under the state directory. Values are read only inside the task that needs them and never
 * leave it unmasked.
 */
export interface SecretScope {
  readonly team: string;
  /** A member's secret; absent for a team secret. */
  readonly member?: string;
  /**
   * A secret field of the team's credential of this name (never with `member`): a scope of its
   * own, which no template can name (hooks read team and member secrets only).
   */
  readonly credential?: string;
}

export interface SecretEntry extends SecretScope {
  readonly name: string;
  readonly updatedAt: string;
}

export interface Secrets {
  get(scope: SecretScope, name: string): Promise<string | undefined>;
  /** Whether a secret is set, without reading its value (the API checks a member's secrets so). */
  exists(scope: SecretScope, name: string): Promise<boolean>;
  set(scope: SecretScope, name: string, value: string): Promise<void>;
  /** Names only, never values. */
  list(team?: string): Promise<SecretEntry[]>;
  /** False when there was no such secret. */
  remove(scope: SecretScope, name: string): Promise<boolean>;
}
