import { describe, expect, it } from "vitest";
import { parseEventBlock } from "../../../web/src/api/live.ts";

describe("the console's reading of the team stream", () => {
  it("reads a stack event", () => {
    const block =
      'event: stack\ndata: {"stackId":"st-1","member":"octocat","type":"ServerReady","seq":4,"at":"2026-01-01T00:00:00Z"}';
    expect(parseEventBlock(block)).toEqual({
      kind: "stack",
      stackId: "st-1",
      member: "octocat",
      type: "ServerReady",
      seq: 4,
      at: "2026-01-01T00:00:00Z",
    });
  });

  it("reads a rollout event, with CRLF line ends and data split over lines", () => {
    expect(parseEventBlock('event: rollout\r\ndata: {"rolloutId":\r\ndata: "r-9"}')).toEqual({
      kind: "rollout",
      rolloutId: "r-9",
    });
  });

  it("ignores keepalive comments, unknown events and data that is not JSON", () => {
    expect(parseEventBlock(": keepalive")).toBeUndefined();
    expect(parseEventBlock('event: other\ndata: {"x":1}')).toBeUndefined();
    expect(parseEventBlock("event: stack\ndata: {not json")).toBeUndefined();
    expect(parseEventBlock('event: stack\ndata: {"member":"x"}')).toBeUndefined();
  });
});
