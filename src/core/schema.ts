import { COMMON_HOOK_PARAMS, type FieldSpec, HOOKS, type ValueKind } from "./capabilities.ts";
import type { ProviderCatalog } from "./providers.ts";
import { HOOK_TYPES } from "./template.ts";

/**
 * The JSON Schema (draft-07, what yaml-language-server reads best) of the template format, built
 * from the same tables validation uses and the providers' declarations.
 * `schema/stack-template.schema.json` is this for the registry's providers, written out; a test
 * keeps the two equal. The schema helps editors; `teamstack validate` is the authority.
 */

type Json = Record<string, unknown>;

const NAME = "^[A-Za-z_][A-Za-z0-9_-]*$";
const DURATION = {
  anyOf: [
    { type: "integer", minimum: 1 },
    { type: "string", pattern: "^(\\d+h)?(\\d+m)?(\\d+s)?$" },
  ],
};

/** `ttl` and `auto_stop`: days too. */
const EXPIRY_DURATION = {
  anyOf: [
    { type: "integer", minimum: 1 },
    { type: "string", pattern: "^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$" },
  ],
};

function valueSchema(v: ValueKind): Json {
  switch (v.kind) {
    case "string":
      return v.pattern ? { type: "string", pattern: v.pattern.source } : { type: "string" };
    case "integer":
      return { type: "integer", minimum: v.min, maximum: v.max };
    case "number":
      return { type: "number", minimum: v.min, maximum: v.max };
    case "boolean":
      return { type: "boolean" };
    case "enum":
      return { enum: [...v.values] };
    case "oneOf":
      return { anyOf: v.choices.map(valueSchema) };
    case "stringList":
      return {
        type: "array",
        items: v.pattern ? { type: "string", pattern: v.pattern.source } : { type: "string" },
      };
    case "records":
      return { type: "array", items: fieldsSchema(v.fields) };
    case "object":
      return { type: "object" };
    case "stringMap":
      return { type: "object", additionalProperties: { type: "string" } };
    case "duration":
      return DURATION;
  }
}

function fieldsSchema(fields: Readonly<Record<string, FieldSpec>>): Json {
  const properties: Json = {};
  const required: string[] = [];
  for (const [name, spec] of Object.entries(fields)) {
    properties[name] = { description: spec.doc, ...valueSchema(spec.value) };
    if (spec.required) required.push(name);
  }
  return {
    type: "object",
    additionalProperties: false,
    properties,
    ...(required.length > 0 ? { required } : {}),
  };
}

/** Builds the template's JSON Schema for the providers of `providers`. */
export function templateSchema(providers: ProviderCatalog): Json {
  const definitions: Json = {};
  for (const type of HOOK_TYPES) {
    definitions[`hook_${type}`] = fieldsSchema({ ...HOOKS[type].params, ...COMMON_HOOK_PARAMS });
  }
  const hookProps = Object.fromEntries(HOOK_TYPES.map((t) => [t, { $ref: `#/definitions/hook_${t}` }]));
  definitions.hook = {
    description: "One hook: `- HOOK_TYPE: { params }`.",
    type: "object",
    minProperties: 1,
    maxProperties: 1,
    additionalProperties: false,
    properties: hookProps,
  };
  definitions.hooks = {
    description: "Hooks in order: a list, or a mapping whose entries run in document order.",
    anyOf: [
      { type: "array", items: { $ref: "#/definitions/hook" } },
      { type: "object", additionalProperties: false, properties: hookProps },
    ],
  };
  const providerCases = providers.declarations.map((p) => ({
    if: { properties: { provider: { enum: [p.name, ...p.aliases] } }, required: ["provider"] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable.
    then: { properties: { options: fieldsSchema(p.capabilities.options) } },
  }));
  definitions.server = {
    type: "object",
    additionalProperties: false,
    required: ["name", "provider", "type"],
    properties: {
      name: {
        description: "Unique name; others refer to it as $servers.NAME.IP.",
        type: "string",
        pattern: "^[A-Za-z_][A-Za-z0-9_-]{0,62}$",
      },
      provider: {
        description: "Where the server is created.",
        enum: [...providers.names, ...providers.aliases.keys()],
      },
      type: {
        description:
          "A provider-native type (t3.micro) or a portable size (4gb-ram/40gb-disk, 2cpu/4gb-ram).",
        type: "string",
        minLength: 1,
      },
      user_data: {
        description: "Script run at first boot; may reference $vars, $servers.OTHER.IP, $koding.userdata.",
        type: "string",
      },
      depends_on: {
        description: "Servers to wait for besides those referenced.",
        type: "array",
        items: { type: "string", pattern: NAME },
      },
      options: { description: "Provider-specific options.", type: "object" },
      on_start: {
        description:
          "Script run at every start of the server (after user_data the first time); the same references as user_data.",
        type: "string",
      },
    },
    allOf: providerCases,
  };
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "teamstack stack template",
    description: "A team's environment: vars, settings, pre_hooks, servers, post_hooks and destroy_hooks.",
    type: "object",
    additionalProperties: false,
    required: ["servers"],
    properties: {
      vars: {
        description: "Values for $vars.NAME.",
        type: "object",
        propertyNames: { pattern: NAME },
        additionalProperties: { type: ["string", "number", "boolean"] },
      },
      settings: {
        type: "object",
        additionalProperties: false,
        properties: {
          on_failure: {
            description: "What a failed run leaves: keep (default) or rollback.",
            enum: ["keep", "rollback"],
          },
          max_parallel: {
            description: "Servers created at once.",
            type: "integer",
            minimum: 1,
            maximum: 1000,
          },
          server_timeout: { description: "Create-to-ready limit per server (default 10m).", ...DURATION },
          ttl: {
            description: "Destroy the stack this long after its creation (10s, 30m, 8h, 7d; at most 366d).",
            ...EXPIRY_DURATION,
          },
          auto_stop: {
            description: "Stop the stack this long after its last start (10s, 30m, 8h, 7d; at most 366d).",
            ...EXPIRY_DURATION,
          },
        },
      },
      pre_hooks: {
        description: "Run in order before any server; see $vars and $koding.userdata.",
        $ref: "#/definitions/hooks",
      },
      servers: { type: "array", minItems: 1, items: { $ref: "#/definitions/server" } },
      post_hooks: {
        description: "Run in order once every server is ready; see everything.",
        $ref: "#/definitions/hooks",
      },
      destroy_hooks: {
        description:
          "Run in order before the servers are destroyed (a farewell message, a backup); see everything.",
        $ref: "#/definitions/hooks",
      },
    },
    definitions,
  };
}
