import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { App, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONTEXT_KEYS, readDeployConfig } from "../../infra/config.ts";
import {
  ASSET_CACHE_CONTROL,
  consoleConfig,
  consoleCsp,
  PAGE_CACHE_CONTROL,
} from "../../infra/constructs/console-site.ts";
import { PROJECT_ROOT, TeamstackStack } from "../../infra/teamstack-stack.ts";
import { CONSOLE_CSP } from "../../src/local/console-assets.ts";
import { buildConsole, type ConsoleBuild } from "../../web/build.ts";

// The web console's static site in the CDK app: the real console build, the stack synthesized
// without bundling the functions (the site is what is under test), then under cdk-nag.

type Json = Record<string, unknown>;
const ISSUER = "https://login.example.com/oauth2/teamstack";
const CLIENT = "teamstack-console";

let work: string;
let build: ConsoleBuild;
let template: Template;
let resources: Record<string, { Type: string; Properties: Json; DependsOn?: unknown }>;
let nag: { error: unknown; outdir: string };

function app(outdir: string, context: Json = {}): App {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as { context: Json };
  return new App({ outdir, context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [], ...context } });
}

beforeAll(async () => {
  const cache = join(PROJECT_ROOT, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  work = mkdtempSync(join(cache, "teamstack-console-site-"));
  build = await buildConsole();
  const a = app(join(work, "deploy"), {
    [CONTEXT_KEYS.jwtIssuer]: ISSUER,
    [CONTEXT_KEYS.jwtAudience]: "teamstack-api",
    [CONTEXT_KEYS.consoleClientId]: CLIENT,
  });
  const stack = new TeamstackStack(a, "Teamstack", { console: build });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as typeof resources;

  // As `npm run synth` on a fresh clone: no context, cdk-nag on.
  const nagOut = join(work, "nag");
  const nagApp = app(nagOut);
  new TeamstackStack(nagApp, "Teamstack", { console: build });
  Validations.of(nagApp).addPlugins(new AwsSolutionsChecks(nagApp, { verbose: true }));
  let error: unknown;
  try {
    nagApp.synth();
  } catch (e) {
    error = e;
  }
  nag = { error, outdir: nagOut };
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

describe("the console's bucket and distribution", () => {
  it("keeps the bucket private and encrypted, read only by the distribution through origin access control", () => {
    const buckets = ofType("AWS::S3::Bucket").filter(([id]) => id.startsWith("Console"));
    expect(buckets).toHaveLength(1);
    const [[bucketId, bucket] = []] = buckets;
    expect(bucket?.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
      },
    });
    template.resourceCountIs("AWS::CloudFront::OriginAccessControl", 1);
    template.hasResourceProperties("AWS::CloudFront::OriginAccessControl", {
      OriginAccessControlConfig: { OriginAccessControlOriginType: "s3", SigningBehavior: "always" },
    });
    // The bucket policy: HTTPS only, and reads by CloudFront for this distribution only.
    const [[, policy] = []] = ofType("AWS::S3::BucketPolicy").filter(
      ([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }),
    );
    if (!policy) throw new Error("no policy on the console's bucket");
    const statements = (policy.Properties.PolicyDocument as { Statement: Json[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    );
    const read = statements.find(
      (s) => (s.Principal as Json | undefined)?.Service === "cloudfront.amazonaws.com",
    );
    expect(read).toMatchObject({ Effect: "Allow", Action: "s3:GetObject" });
    expect(JSON.stringify(read?.Condition)).toContain("AWS:SourceArn");
  });

  it("serves index.html at the root, over HTTPS only, with the security headers policy", () => {
    template.resourceCountIs("AWS::CloudFront::Distribution", 1);
    template.hasResourceProperties("AWS::CloudFront::Distribution", {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: "index.html",
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: "https-only",
          AllowedMethods: ["GET", "HEAD"],
          ResponseHeadersPolicyId: Match.anyValue(),
        }),
      }),
    });
  });

  it("sends serve's CSP with the API and the issuer added to connect-src, HSTS, DENY, nosniff, no referrer", () => {
    const [[, policy] = []] = ofType("AWS::CloudFront::ResponseHeadersPolicy");
    if (!policy) throw new Error("no response headers policy");
    const headers = (policy.Properties.ResponseHeadersPolicyConfig as Json).SecurityHeadersConfig as Record<
      string,
      Json
    >;
    const csp = headers.ContentSecurityPolicy?.ContentSecurityPolicy;
    expect(JSON.stringify(csp)).toContain("connect-src 'self' https://*.execute-api.");
    expect(JSON.stringify(csp)).toContain("https://login.example.com");
    expect(consoleCsp("eu-west-1", { issuer: ISSUER, clientId: CLIENT, scope: "openid" })).toBe(
      CONSOLE_CSP.replace(
        "connect-src 'self'",
        "connect-src 'self' https://*.execute-api.eu-west-1.amazonaws.com https://login.example.com",
      ),
    );
    expect(headers.StrictTransportSecurity).toMatchObject({
      AccessControlMaxAgeSec: 31536000,
      Override: true,
    });
    expect(headers.FrameOptions).toMatchObject({ FrameOption: "DENY" });
    expect(headers.ContentTypeOptions).toMatchObject({ Override: true });
    expect(headers.ReferrerPolicy).toMatchObject({ ReferrerPolicy: "no-referrer" });
  });
});

describe("the console's files", () => {
  it("deploys every file of the build, the assets cached for ever, the pages and config.json never", () => {
    const deployments = ofType("Custom::CDKBucketDeployment");
    expect(deployments).toHaveLength(2);
    const byPrefix = Object.fromEntries(
      deployments.map(([, d]) => [String(d.Properties.DestinationBucketKeyPrefix ?? ""), d.Properties]),
    );
    expect(byPrefix["assets/"]?.SystemMetadata).toEqual({ "cache-control": ASSET_CACHE_CONTROL });
    expect(byPrefix[""]?.SystemMetadata).toEqual({ "cache-control": PAGE_CACHE_CONTROL });
    const assets = [...build.files.keys()].filter((k) => k.startsWith("assets/"));
    expect(assets.length).toBeGreaterThanOrEqual(2);
    expect(byPrefix["assets/"]?.SourceObjectKeys as unknown[]).toHaveLength(assets.length);
    // index.html, config.json and console/config.json (where the console looks first).
    expect(byPrefix[""]?.SourceObjectKeys as unknown[]).toHaveLength(3);
    // The pages' copy invalidates them at the edge.
    expect(byPrefix[""]?.DistributionPaths).toEqual([
      "/index.html",
      "/config.json",
      "/console/config.json",
      "/",
    ]);
  });

  it("writes config.json with the API's URL, no stream, and the OpenID Connect client the authorizer accepts", () => {
    const [[, pages] = []] = ofType("Custom::CDKBucketDeployment").filter(
      ([, d]) => d.Properties.DestinationBucketKeyPrefix === undefined,
    );
    // The API's URL is a deploy-time value: a marker in both config.json copies that the copy
    // function fills in with the HTTP API's endpoint.
    const [[apiId] = []] = ofType("AWS::ApiGatewayV2::Api");
    const markers = pages?.Properties.SourceMarkers as Json[];
    expect(markers.filter((m) => Object.keys(m).length > 0)).toEqual([
      { "<<marker:0xbaba:0>>": { "Fn::GetAtt": [apiId, "ApiEndpoint"] } },
      { "<<marker:0xbaba:0>>": { "Fn::GetAtt": [apiId, "ApiEndpoint"] } },
    ]);
    const config = consoleConfig("https://api.example", {
      issuer: ISSUER,
      clientId: CLIENT,
      scope: "openid",
    });
    expect(config).toEqual({
      apiBase: "https://api.example",
      stream: false,
      signIn: { token: true, oneTime: false, oidc: { issuer: ISSUER, clientId: CLIENT, scope: "openid" } },
    });
    // The console's ID tokens carry its client id as `aud`: the authorizer takes it besides the API's.
    template.hasResourceProperties("AWS::ApiGatewayV2::Authorizer", {
      JwtConfiguration: { Issuer: ISSUER, Audience: ["teamstack-api", CLIENT] },
    });
  });
});

describe("the API for the console", () => {
  it("allows CORS from the console's origin only, with the bearer token and If-None-Match in and ETag out", () => {
    const [[, api] = []] = ofType("AWS::ApiGatewayV2::Api");
    const cors = api?.Properties.CorsConfiguration as Json;
    const [[distributionId] = []] = ofType("AWS::CloudFront::Distribution");
    expect(cors.AllowOrigins).toEqual([
      { "Fn::Join": ["", ["https://", { "Fn::GetAtt": [distributionId, "DomainName"] }]] },
    ]);
    expect(cors.AllowHeaders).toEqual(
      expect.arrayContaining(["authorization", "if-none-match", "content-type"]),
    );
    expect(cors.ExposeHeaders).toContain("etag");
    expect(cors.AllowCredentials).toBeUndefined();
  });

  it("answers preflights on a route of their own without the authorizer; every other method keeps it", () => {
    const byKey = Object.fromEntries(
      ofType("AWS::ApiGatewayV2::Route").map(([, r]) => [
        r.Properties.RouteKey,
        r.Properties.AuthorizationType,
      ]),
    );
    expect(byKey).toEqual({
      "ANY /{proxy+}": "JWT",
      "OPTIONS /{proxy+}": "NONE",
      "GET /openapi.json": "NONE",
      "POST /callbacks/ready/{proxy+}": "NONE",
    });
  });

  it("outputs the console's URL", () => {
    template.hasOutput("ConsoleUrl", Match.anyValue());
  });
});

describe("cdk-nag AwsSolutions on the stack with the console", () => {
  it("finds nothing unacknowledged", () => {
    const report = join(nag.outdir, "validation-report.json");
    const violations = existsSync(report)
      ? (
          JSON.parse(readFileSync(report, "utf8")) as {
            pluginReports: { violations: { ruleName: string; violatingResources: unknown }[] }[];
          }
        ).pluginReports
          .flatMap((p) => p.violations)
          .filter((v) => !v.ruleName.startsWith("Annotation::"))
      : [];
    expect(violations.map((v) => v.ruleName)).toEqual([]);
    expect(nag.error).toBeUndefined();
  });
});

describe("the console's deployment settings", () => {
  const config = (context: Json) => readDeployConfig(new App({ context }).node);

  it("takes the first audience as the console's client id unless one is given, and adds a given one to the audiences", () => {
    const plain = config({ [CONTEXT_KEYS.jwtIssuer]: ISSUER, [CONTEXT_KEYS.jwtAudience]: "api, cli" });
    expect(plain.console).toEqual({ clientId: "api", scope: "openid profile email" });
    expect(plain.jwtAudience).toEqual(["api", "cli"]);
    const own = config({
      [CONTEXT_KEYS.jwtIssuer]: ISSUER,
      [CONTEXT_KEYS.jwtAudience]: "api",
      [CONTEXT_KEYS.consoleClientId]: CLIENT,
      [CONTEXT_KEYS.consoleScope]: "openid email",
    });
    expect(own.console).toEqual({ clientId: CLIENT, scope: "openid email" });
    expect(own.jwtAudience).toEqual(["api", CLIENT]);
  });

  it("rejects a client id with spaces and scopes without openid, naming the key and the value", () => {
    expect(() => config({ [CONTEXT_KEYS.consoleClientId]: "my console" })).toThrow(
      /teamstack:consoleClientId: .*found `my console`/,
    );
    expect(() => config({ [CONTEXT_KEYS.consoleScope]: "email profile" })).toThrow(
      /teamstack:consoleScope: expected scopes including `openid`, found `email profile`/,
    );
  });
});
