import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from "aws-cdk-lib/aws-cloudfront";
import { S3BucketOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { BucketDeployment, CacheControl, Source } from "aws-cdk-lib/aws-s3-deployment";
import { Construct, type IConstruct } from "constructs";
import type { ConsoleConfig } from "../../src/api/console.ts";
import { CONSOLE_CSP } from "../../src/local/console-assets.ts";
import type { ConsoleBuild } from "../../web/build.ts";

/** The console's OpenID Connect client, as config.json tells the browser. */
export interface ConsoleOidc {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
}

export interface ConsoleSiteProps {
  /** The console's files (web/build.ts `buildConsole()`): index.html and content-hashed assets. */
  readonly build: ConsoleBuild;
  /** The HTTP API's base URL, written into config.json as `apiBase`. */
  readonly apiUrl: string;
  /** The deployment's identity provider; null where none is configured (a pasted token only). */
  readonly oidc: ConsoleOidc | null;
}

/** Cache lifetimes: assets are content-hashed (cached for ever); index.html and config.json never. */
export const ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable";
export const PAGE_CACHE_CONTROL = "no-cache";

/**
 * The Content-Security-Policy of the deployed console: `teamstack serve`'s, with the API (API
 * Gateway in this region; the API's own id would make a dependency cycle, since the API's CORS
 * names this distribution) and the identity provider (discovery and the token exchange) added
 * to `connect-src`.
 */
export function consoleCsp(region: string, oidc: ConsoleOidc | null): string {
  const connect = ["'self'", `https://*.execute-api.${region}.amazonaws.com`];
  if (oidc) connect.push(new URL(oidc.issuer).origin);
  return CONSOLE_CSP.split("; ")
    .map((d) => (d.startsWith("connect-src ") ? `connect-src ${connect.join(" ")}` : d))
    .join("; ");
}

/** What the console reads at `config.json` (and `console/config.json`, where `serve` answers it). */
export function consoleConfig(apiUrl: string, oidc: ConsoleOidc | null): ConsoleConfig {
  // API Gateway cannot stream: the console polls with If-None-Match. One-time links are serve's.
  return { apiBase: apiUrl, stream: false, signIn: { token: true, oneTime: false, oidc } };
}

/**
 * The web console as a static site: a private, encrypted S3 bucket that only this CloudFront
 * distribution reads (origin access control), HTTPS only, with security headers (the same CSP as
 * `teamstack serve`, HSTS, no framing, no sniffing, no referrer), index.html at the root, the
 * build's files and a generated config.json (the API's URL and the OpenID Connect client).
 */
export class ConsoleSite extends Construct {
  readonly bucket: Bucket;
  readonly distribution: Distribution;
  readonly headers: ResponseHeadersPolicy;

  constructor(scope: Construct, id: string, props: ConsoleSiteProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.bucket = new Bucket(this, "Bucket", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Rebuilt from the repository at every deploy: nothing in it is kept elsewhere only.
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    // Bucket's optional `isWebsite` does not fit IBucket under exactOptionalPropertyTypes.
    const bucket = this.bucket as unknown as IBucket;
    Validations.of(this.bucket).acknowledge({
      id: "AwsSolutions-S1",
      reason:
        "The bucket holds the console's public build only (no data); CloudFront is its one reader, and requests to the API, where data lives, are logged by API Gateway's access log.",
    });

    this.headers = new ResponseHeadersPolicy(this, "Headers", {
      comment: "teamstack console: CSP as teamstack serve, HSTS, no framing or sniffing, no referrer",
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: consoleCsp(stack.region, props.oidc),
          override: true,
        },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });

    this.distribution = new Distribution(this, "Distribution", {
      comment: "teamstack web console",
      defaultRootObject: "index.html",
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.headers,
        compress: true,
      },
    });
    const distribution = this.distribution.node.defaultChild as IConstruct;
    for (const [rule, reason] of [
      [
        "AwsSolutions-CFR1",
        "The console is for a team wherever its members are; who may use it is decided by the identity provider and the API's authorizer, not by country.",
      ],
      [
        "AwsSolutions-CFR2",
        "The site serves static files only (no data, no forms); the API it calls is throttled per stage and behind the JWT authorizer.",
      ],
      [
        "AwsSolutions-CFR3",
        "Requests for static, public files are not logged; every request for data goes to the API, whose access log records it.",
      ],
      [
        "AwsSolutions-CFR4",
        "The distribution uses CloudFront's own *.cloudfront.net certificate, where CloudFront sets the TLS policy; a custom domain with its own certificate (and TLSv1.2_2021) is the operator's to add.",
      ],
    ] as const) {
      Validations.of(distribution).acknowledge({ id: rule, reason });
    }

    // The content-hashed assets first, cached for ever; then the pages that name them, never cached.
    const assets = [...props.build.files].filter(([key]) => key.startsWith("assets/"));
    const pages = [...props.build.files].filter(([key]) => !key.startsWith("assets/"));
    const text = (body: Uint8Array) => new TextDecoder().decode(body);
    const config = consoleConfig(props.apiUrl, props.oidc);
    const assetsDeployment = new BucketDeployment(this, "Assets", {
      destinationBucket: bucket,
      destinationKeyPrefix: "assets/",
      sources: assets.map(([key, file]) => Source.data(key.slice("assets/".length), text(file.body))),
      cacheControl: [CacheControl.fromString(ASSET_CACHE_CONTROL)],
      // Assets of earlier builds stay: a page loaded before this deploy still finds its chunks.
      prune: false,
    });
    const pagesDeployment = new BucketDeployment(this, "Pages", {
      destinationBucket: bucket,
      sources: [
        ...pages.map(([key, file]) => Source.data(key, text(file.body))),
        Source.jsonData("config.json", config),
        Source.jsonData("console/config.json", config),
      ],
      cacheControl: [CacheControl.fromString(PAGE_CACHE_CONTROL)],
      prune: false,
      distribution: this.distribution,
      distributionPaths: ["/index.html", "/config.json", "/console/config.json", "/"],
    });
    pagesDeployment.node.addDependency(assetsDeployment);
    const bucketId = stack.getLogicalId(this.bucket.node.defaultChild as CfnElement);
    for (const deployment of [assetsDeployment, pagesDeployment]) acknowledgeDeployment(deployment, bucketId);
    for (const child of stack.node.children) {
      if (!child.node.id.startsWith("Custom::CDKBucketDeployment")) continue;
      Validations.of(child).acknowledge({
        id: "AwsSolutions-L1",
        reason:
          "The CDK's BucketDeployment function: aws-cdk-lib picks its runtime (it ships the function's code), and it runs only while CloudFormation deploys the console.",
      });
    }
  }

  /** The console's origin, `https://<distribution>.cloudfront.net`. */
  get origin(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }
}

/**
 * cdk-nag on the CDK's own copy function (one per stack, shared by both deployments), by each
 * finding's exact id: what BucketDeployment grants itself, to copy files in at deploy time.
 */
function acknowledgeDeployment(deployment: BucketDeployment, bucketId: string): void {
  const role = deployment.handlerRole as unknown as IConstruct;
  const copying =
    "The CDK's BucketDeployment copies the console's files from the CDK's staging bucket into the console's bucket while CloudFormation deploys, and at no other time:";
  const acks: [string, string][] = [
    [
      "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      `${copying} the AWS-managed policy lets it write its own log, nothing more.`,
    ],
    ...["s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*"].map(
      (action): [string, string] => [
        `AwsSolutions-IAM5[Action::${action}]`,
        `${copying} the CDK grants read on the staging bucket and read-write on the console's bucket with these action groups.`,
      ],
    ),
    [
      "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]",
      `${copying} the staging bucket's objects are named by content hash, so the grant covers its keys.`,
    ],
    [
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      `${copying} the console's files are named by content hash, so the grant covers the bucket's keys.`,
    ],
    [
      "AwsSolutions-IAM5[Resource::*]",
      `${copying} the CDK's function also invalidates the distribution's cache (cloudfront:CreateInvalidation and GetInvalidation), which IAM grants on * only.`,
    ],
  ];
  for (const [id, reason] of acks) Validations.of(role).acknowledge({ id, reason });
}
