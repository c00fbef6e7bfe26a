import type { ProviderDeclaration } from "../../core/providers.ts";
import { offeringFor, tooLargeForOfferings } from "./sizes.ts";

/**
 * The `aws` provider's declaration: servers are EC2 instances in the team's own account. Pure (no
 * SDK, no I/O): validation, the JSON Schema, the API and the CDK app read it.
 */

/** EC2's limit on UserData, in bytes before base64. */
export const EC2_USER_DATA_LIMIT = 16 * 1024;

/**
 * The most the wrapper adds to user_data without public keys (the longest names, an API base URL of
 * up to 100 characters); public keys add about 400 bytes plus their own length. A user_data over
 * `EC2_USER_DATA_LIMIT - WRAPPER_MAX_OVERHEAD` bytes can be refused before it is rendered.
 */
export const WRAPPER_MAX_OVERHEAD = 2048;

/** The roles teamstack may assume in teams' accounts: infra/team-role.yaml names its role so. */
export const TEAM_ROLE_PREFIX = "teamstack-";

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export const awsDeclaration: ProviderDeclaration = {
  name: "aws",
  aliases: [],
  summary: "EC2 instances in the team's own AWS account, reached with the team's registered role.",
  capabilities: {
    nativeType: /^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9-]+$/,
    nativeTypeExample: "t3.micro",
    sizes: {
      describe:
        "the cheapest t3 (up to 8 vCPUs) or m6i offering with at least the CPUs and memory asked for; a gb-disk part sizes the root volume",
      map: (size) => {
        const type = offeringFor(size);
        return type ? { type } : { problem: `it ${tooLargeForOfferings()}` };
      },
    },
    options: {
      region: {
        value: { kind: "string", interpolated: false, pattern: REGION, describe: "an AWS region" },
        doc: "AWS region (default: the team credential's region).",
      },
      ami: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^ami-[0-9a-f]{8,17}$/,
          describe: "an AMI id",
        },
        doc: "Image id (default: the newest Ubuntu LTS).",
      },
      credential: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[A-Za-z0-9_-]+$/,
          describe: "a credential name",
        },
        doc: "Name of the team credential to use (default: `default`).",
      },
      disk_gb: { value: { kind: "integer", min: 8, max: 16384 }, doc: "Root volume size in GB." },
      firewall: {
        value: {
          kind: "records",
          describe: "a list of rules such as `- { port: 22, from: 10.0.0.0/8 }`",
          fields: {
            port: {
              value: {
                kind: "oneOf",
                describe: "0-65535 or a range such as 8000-8100",
                choices: [
                  { kind: "integer", min: 0, max: 65535 },
                  { kind: "string", interpolated: false, pattern: /^\d{1,5}-\d{1,5}$/ },
                ],
              },
              required: true,
              doc: "A port, or a range of ports.",
            },
            protocol: {
              value: {
                kind: "enum",
                values: ["tcp", "udp", "icmp", "all"],
                describe: "tcp, udp, icmp or all",
              },
              doc: "The protocol (default tcp).",
            },
            from: {
              value: {
                kind: "string",
                interpolated: false,
                pattern: /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/,
                describe: "an IPv4 CIDR such as 10.0.0.0/8",
              },
              doc: "Where connections may come from (an IPv4 CIDR).",
            },
          },
        },
        doc: "Inbound rules: port, protocol, from (CIDR).",
      },
      public_keys: {
        value: { kind: "stringList", pattern: /^(ssh-|ecdsa-)\S+ \S+/, describe: "an OpenSSH public key" },
        doc: "Extra SSH public keys.",
      },
      ssh_user: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[a-z_][a-z0-9_-]{0,31}$/,
          describe: "a Linux user name such as ec2-user",
        },
        doc: "The user `teamstack shell` logs in as (default: the image's usual one, ubuntu for the default image).",
      },
    },
    userDataLimit: {
      bytes: EC2_USER_DATA_LIMIT - WRAPPER_MAX_OVERHEAD,
      why: "EC2 takes 16 KB, of which teamstack's wrapper needs 2 KB",
    },
    verbs: ["stop", "start", "shell"],
    readiness: "callback",
  },
  credentials: {
    roleReference: true,
    describe:
      "An IAM role in the team's account (named teamstack-*, see infra/team-role.yaml) that teamstack assumes with the team's ExternalId.",
    fields: {
      roleArn: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^arn:aws[a-z-]*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*teamstack-[\w+=,.@-]+$/,
          describe: "an IAM role ARN whose name starts with teamstack-",
        },
        required: true,
        secret: false,
        doc: "The role's ARN; teamstack may assume only roles named teamstack-*.",
      },
      externalId: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[\w+=,.@:/-]{16,1224}$/,
          describe: "an ExternalId",
        },
        required: true,
        secret: true,
        doc: "The ExternalId its trust policy requires.",
      },
      region: {
        value: { kind: "string", interpolated: false, pattern: REGION, describe: "an AWS region" },
        required: true,
        secret: false,
        doc: "Where servers go by default.",
      },
      instanceProfile: {
        value: { kind: "string", interpolated: false, describe: "an instance profile name or ARN" },
        secret: false,
        doc: "Instance profile for SSM (run_script).",
      },
    },
  },
  runsIn: ["lambda"],
  deployment: {
    grants: [
      {
        actions: ["sts:AssumeRole"],
        resources: [`arn:{partition}:iam::*:role/${TEAM_ROLE_PREFIX}*`],
        reason:
          "Teams register roles in their own accounts, unknown when teamstack is deployed: any account, but only roles named teamstack-*, and each role's trust policy requires the team's ExternalId (infra/team-role.yaml).",
      },
    ],
    readsCredentialSecrets: true,
  },
};
