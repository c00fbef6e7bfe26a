import type { TeamDirectory } from "../../ports/store.ts";
import { credentialKey, memberKey, teamPolicyKey } from "../keys.ts";
import {
  credentialToItem,
  itemToCredential,
  itemToMember,
  itemToTeamPolicy,
  memberToItem,
  teamPolicyToItem,
} from "../records.ts";
import { keyAttrs, type TableClient } from "./table-client.ts";

/** The team directory in the table, one item each in the team's partition. */
export function createDynamoTeamDirectory(table: TableClient): TeamDirectory {
  return {
    async putMember(member) {
      await table.putItem(memberToItem(member), `member \`${member.member}\``);
    },

    async getMember(team, member) {
      const item = await table.getItem(keyAttrs(memberKey(team, member)), `member \`${member}\``);
      return item && itemToMember(item);
    },

    async putTeamPolicy(policy) {
      await table.putItem(teamPolicyToItem(policy), `policy of team \`${policy.team}\``);
    },

    async getTeamPolicy(team) {
      const item = await table.getItem(keyAttrs(teamPolicyKey(team)), `policy of team \`${team}\``);
      return item && itemToTeamPolicy(item);
    },

    async putCredential(credential) {
      await table.putItem(credentialToItem(credential), `credential \`${credential.name}\``);
    },

    async getCredential(team, name) {
      const item = await table.getItem(keyAttrs(credentialKey(team, name)), `credential \`${name}\``);
      return item && itemToCredential(item);
    },
  };
}
