import type { TeamDirectory, TeamListing } from "../../ports/store.ts";
import {
  CREDENTIAL_PREFIX,
  credentialKey,
  MEMBER_PREFIX,
  memberKey,
  teamPk,
  teamPolicyKey,
} from "../keys.ts";
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

/** The team's members and credentials: a Query on the team's partition by sort-key prefix each. */
export function createDynamoTeamListing(table: TableClient): TeamListing {
  return {
    async listMembers(team) {
      const items = await table.queryPrefix(teamPk(team), MEMBER_PREFIX);
      return items.map(itemToMember).sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
    },

    ...createDynamoCredentialListing(table),

    async removeCredential(team, name) {
      const key = keyAttrs(credentialKey(team, name));
      const found = await table.getItem(key, `credential \`${name}\``);
      if (found) await table.deleteItem(key, `credential \`${name}\``);
      return found !== undefined;
    },
  };
}

/** The team's credentials by name: what the task functions need of the listing (a pool of hosts). */
export function createDynamoCredentialListing(table: TableClient): Pick<TeamListing, "listCredentials"> {
  return {
    async listCredentials(team) {
      const items = await table.queryPrefix(teamPk(team), CREDENTIAL_PREFIX);
      return items.map(itemToCredential).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}
