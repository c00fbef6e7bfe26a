import { App } from "aws-cdk-lib";
import { TeamstackStack } from "./teamstack-stack.ts";

// Environment-agnostic: `cdk deploy` targets the account and region of the credentials in use.
const app = new App();
new TeamstackStack(app, "Teamstack", {
  description: "teamstack: a YAML stack template becomes servers, orchestrated by Step Functions",
});
