/**
 * The aws provider's bootstrap leases: what it records of each credential's shared network in a
 * region, and the claim that keeps two tasks from bootstrapping the same one at once. The
 * provider's own port, apart from the Store's parts; src/store/dynamo/bootstrap-leases.ts keeps
 * them in the store's table.
 */

/** The shared network a credential's servers use in one region (see the aws provider's bootstrap). */
export interface BootstrapResources {
  readonly vpcId: string;
  readonly subnetId: string;
  readonly internetGatewayId: string;
  readonly routeTableId: string;
  readonly securityGroupId: string;
  readonly keyName: string;
}

/** What is recorded of a credential's bootstrap in a region: in progress (claimed), or done. */
export interface BootstrapRecord {
  readonly team: string;
  readonly credential: string;
  readonly region: string;
  readonly status: "CREATING" | "READY";
  /** While CREATING: who bootstraps, and until when (ISO time) the claim holds. */
  readonly owner?: string;
  readonly leaseUntil?: string;
  /** Present once READY. */
  readonly resources?: BootstrapResources;
  readonly updatedAt: string;
}

/** A claim on a bootstrap: `owner` may bootstrap until `until` (ISO times, compared as text). */
export interface BootstrapClaim {
  readonly owner: string;
  readonly until: string;
  readonly now: string;
  /** Claim even a READY bootstrap (its resources turned out to be gone). */
  readonly force?: boolean;
}

export interface BootstrapLeases {
  getBootstrap(team: string, credential: string, region: string): Promise<BootstrapRecord | undefined>;
  /**
   * Claims the right to bootstrap a credential in a region, atomically: granted when nothing is
   * recorded, when `claim.owner` holds it already, or when the holder's lease has run out (and, with
   * `force`, over a READY record). Otherwise answers the record as it is.
   */
  claimBootstrap(
    team: string,
    credential: string,
    region: string,
    claim: BootstrapClaim,
  ): Promise<{ readonly claimed: true } | { readonly claimed: false; readonly record: BootstrapRecord }>;
  /** Records a bootstrap (READY with its resources), replacing any claim. */
  putBootstrap(record: BootstrapRecord): Promise<void>;
}
