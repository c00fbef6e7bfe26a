import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { buildConsole } from "../web/build.ts";
import { TeamstackStack } from "./teamstack-stack.ts";

// Environment-agnostic: `cdk deploy` targets the account and region of the credentials in use.
const app = new App();
new TeamstackStack(app, "Teamstack", {
  // The web console, built in memory with esbuild, goes to its bucket behind CloudFront.
  console: await buildConsole(),
  description: "teamstack: a YAML stack template becomes servers, orchestrated by Step Functions",
});
// An unacknowledged AwsSolutions finding fails `cdk synth` and `cdk deploy`.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
