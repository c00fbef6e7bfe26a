import { RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";

/** The sparse index of stack items (src/store/keys.ts `STACKS_INDEX`). */
export const STACKS_INDEX_NAME = "gsi1";

/**
 * The store's one DynamoDB table, the same definition src/store/table.ts creates locally:
 * `pk`/`sk` strings, on-demand billing, and the sparse keys-only index `gsi1` (`gsi1pk`/`gsi1sk`)
 * listing a team's stacks. In AWS it also gets point-in-time recovery, AWS-managed encryption and
 * the TTL attribute `purgeAt` (epoch seconds), which every item of a destroyed stack carries for
 * 30 days (src/pipeline/purge.ts). dynalite has no TTL: the local runtime purges those stacks
 * itself. Not `expiresAt`, which names a stack's own `settings.ttl` (an ISO time on the stack item).
 */
export class StoreTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new Table(this, "Table", {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      sortKey: { name: "sk", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: "purgeAt",
      // The team's templates and stack records outlive a `cdk destroy` of the deployment.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: STACKS_INDEX_NAME,
      partitionKey: { name: "gsi1pk", type: AttributeType.STRING },
      sortKey: { name: "gsi1sk", type: AttributeType.STRING },
      projectionType: ProjectionType.KEYS_ONLY,
    });
  }
}
