import { QueryCommand, type QueryCommandInput } from "@aws-sdk/client-dynamodb";
import type { TemplateCatalog, TemplateSummary, TemplateVersion } from "../../ports/store.ts";
import { Fields, fromItem, itemSize, MAX_ITEM_BYTES, toAttr } from "../codec.ts";
import { ItemTooLargeError, StoreError, TemplateNotFoundError } from "../errors.ts";
import {
  ITEM_KINDS,
  MAX_TEMPLATE_VERSION,
  teamPk,
  templateCatalogKey,
  templateKey,
  templateVersionKey,
} from "../keys.ts";
import {
  compressTemplate,
  itemToTemplateCatalog,
  itemToTemplateVersion,
  templateVersionToItem,
} from "../records.ts";
import { keyAttrs, projection, type TableClient } from "./table-client.ts";

/** Reads listTemplates runs at once (one query per template). */
const PARALLEL_READS = 16;

/**
 * The template catalog in the table, in the team's partition: the catalog item (every name, and
 * the default), a head per template (the newest number allocated and its hash), and one item per
 * version (its YAML compressed).
 */
export function createDynamoTemplateCatalog(table: TableClient): TemplateCatalog {
  function getVersionItem(team: string, name: string, version: number, attrs?: readonly string[]) {
    if (!Number.isSafeInteger(version) || version < 1 || version > MAX_TEMPLATE_VERSION) {
      return Promise.resolve(undefined);
    }
    const what = `version ${version} of template \`${name}\``;
    return table.getItem(keyAttrs(templateVersionKey(team, name, version)), what, attrs);
  }

  /** A template's versions are the sort keys from version 1 to the highest one. */
  function versionRange(team: string, name: string) {
    return {
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :first AND :last",
      ExpressionAttributeValues: {
        ":pk": { S: teamPk(team) },
        ":first": { S: templateVersionKey(team, name, 1).sk },
        ":last": { S: templateVersionKey(team, name, MAX_TEMPLATE_VERSION).sk },
      },
      ConsistentRead: true,
    } satisfies Omit<QueryCommandInput, "TableName">;
  }

  /**
   * The newest version that is stored. Not the head's number: a publish that died between
   * allocating its number and storing the version leaves that number without a version.
   */
  async function newestVersionItem(team: string, name: string, attrs?: readonly string[]) {
    const range = versionRange(team, name);
    const proj = projection(attrs);
    const out = await table.send("Query", `template \`${name}\``, (client) =>
      client.send(
        new QueryCommand({
          ...range,
          ...proj,
          TableName: table.tableName,
          ScanIndexForward: false,
          Limit: 1,
        }),
      ),
    );
    return out.Items?.[0];
  }

  async function getTemplateCatalog(team: string) {
    const item = await table.getItem(keyAttrs(templateCatalogKey(team)), `templates of team \`${team}\``);
    return itemToTemplateCatalog(item);
  }

  return {
    async putTemplateVersion(input) {
      const { team, name, hash } = input;
      const head = keyAttrs(templateKey(team, name));
      const what = `template \`${name}\` of team \`${team}\``;
      const yamlGz = await compressTemplate(input.yaml);
      const versionOf = (version: number): TemplateVersion => ({
        team,
        name,
        version,
        yaml: input.yaml,
        hash,
        author: input.author,
        createdAt: input.createdAt,
      });
      // Refused before a number is allocated, so that a version too large burns none.
      if (itemSize(templateVersionToItem(versionOf(MAX_TEMPLATE_VERSION), yamlGz)) > MAX_ITEM_BYTES) {
        throw new ItemTooLargeError(`a version of ${what}`);
      }

      /** Stores version `n`; whoever stores it first created it (the allocator, or a repairer). */
      const storeVersion = async (n: number) => {
        const version = versionOf(n);
        if (await table.putNew(templateVersionToItem(version, yamlGz), `version ${n} of ${what}`)) {
          return { version, created: true };
        }
        const existing = await getVersionItem(team, name, n);
        const stored = existing && (await itemToTemplateVersion(existing));
        if (stored?.hash !== hash) {
          throw new StoreError(
            `${what}: version ${n} holds hash ${stored?.hash ?? "(none)"}, expected ${hash}`,
          );
        }
        return { version: stored, created: false };
      };

      // The catalog first: a publish cut short after it leaves a name without versions, which
      // listTemplates skips; the other order would leave versions that no listing shows.
      await table.updateItem(
        {
          Key: keyAttrs(templateCatalogKey(team)),
          UpdateExpression: "SET #team = :team, #kind = :kind ADD #names :name",
          ExpressionAttributeNames: { "#team": "team", "#kind": "kind", "#names": "names" },
          ExpressionAttributeValues: {
            ":team": { S: team },
            ":kind": { S: ITEM_KINDS.templateCatalog },
            ":name": { SS: [name] },
          },
        },
        what,
      );
      // A dynalite condition failure is read back after the fact: the head may have moved on.
      for (let attempt = 0; attempt < 5; attempt++) {
        const allocated = await table.conditionalUpdate(
          {
            Key: head,
            UpdateExpression:
              "SET #team = :team, #name = :name, #kind = :kind, #hash = :hash, #at = :at ADD #latest :one",
            ConditionExpression: "attribute_not_exists(#hash) OR #hash <> :hash",
            ExpressionAttributeNames: {
              "#team": "team",
              "#name": "name",
              "#kind": "kind",
              "#hash": "latestHash",
              "#at": "updatedAt",
              "#latest": "latest",
            },
            ExpressionAttributeValues: {
              ":team": { S: team },
              ":name": { S: name },
              ":kind": { S: ITEM_KINDS.template },
              ":hash": { S: hash },
              ":at": { S: input.createdAt },
              ":one": { N: "1" },
            },
            ReturnValues: "UPDATED_NEW",
          },
          what,
        );
        if (allocated.ok) return storeVersion(Number(allocated.item.latest?.N));
        if (allocated.current === undefined) continue;
        const current = new Fields(fromItem(allocated.current), "template head item");
        if (current.optStr("latestHash") !== hash) continue;
        // The newest number was allocated for this same YAML: that version is the answer. If it
        // is not stored (its publisher is still on its way, or died), store it now.
        const latest = current.num("latest");
        const existing = await getVersionItem(team, name, latest);
        if (existing === undefined) return storeVersion(latest);
        return { version: await itemToTemplateVersion(existing), created: false };
      }
      throw new StoreError(`${what}: the newest version kept changing while publishing; try again`);
    },

    async getTemplateVersion(team, name, version) {
      const item =
        version === undefined
          ? await newestVersionItem(team, name)
          : await getVersionItem(team, name, version);
      return item && itemToTemplateVersion(item);
    },

    async listTemplateVersions(team, name) {
      return Promise.all((await table.queryAll(versionRange(team, name))).map(itemToTemplateVersion));
    },

    async listTemplates(team) {
      const catalog = await getTemplateCatalog(team);
      const summaries: TemplateSummary[] = [];
      for (let i = 0; i < catalog.names.length; i += PARALLEL_READS) {
        const chunk = catalog.names.slice(i, i + PARALLEL_READS);
        const newest = await Promise.all(
          chunk.map((name) => newestVersionItem(team, name, ["version", "hash", "createdAt"])),
        );
        chunk.forEach((name, j) => {
          const item = newest[j];
          if (item === undefined) return; // its first publish died before storing a version
          const f = new Fields(fromItem(item), "template version item");
          summaries.push({
            team,
            name,
            latest: f.num("version"),
            hash: f.str("hash"),
            updatedAt: f.str("createdAt"),
            ...(catalog.default?.name === name && { defaultVersion: catalog.default.version }),
          });
        });
      }
      return summaries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async setDefaultTemplate(team, ref) {
      const found = await getVersionItem(team, ref.name, ref.version, ["pk"]);
      if (found === undefined) throw new TemplateNotFoundError(team, ref.name, ref.version);
      await table.updateItem(
        {
          Key: keyAttrs(templateCatalogKey(team)),
          UpdateExpression: "SET #team = :team, #kind = :kind, #default = :default",
          ExpressionAttributeNames: { "#team": "team", "#kind": "kind", "#default": "default" },
          ExpressionAttributeValues: {
            ":team": { S: team },
            ":kind": { S: ITEM_KINDS.templateCatalog },
            ":default": toAttr({ name: ref.name, version: ref.version }),
          },
        },
        `default template of team \`${team}\``,
      );
    },

    async getDefaultTemplate(team) {
      return (await getTemplateCatalog(team)).default;
    },
  };
}
