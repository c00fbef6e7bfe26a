import { describe, expect, it } from "vitest";
import { eventOrder } from "../../../src/local/event-order.ts";
import type { StackEvent, StackKey } from "../../../src/ports/store.ts";

const A: StackKey = { team: "t", stackId: "a" };
const B: StackKey = { team: "t", stackId: "b" };

/** An append whose event (seq `seq`) is written when the test says so. */
function deferred(seq: number) {
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<StackEvent>((resolve, reject) => {
    finish = () =>
      resolve({ seq, at: "2030-01-01T00:00:00.000Z", type: "ServerReady", message: `event ${seq}` });
    fail = reject;
  });
  return { run: () => done, finish, fail };
}

function recorder() {
  const seen: string[] = [];
  const append = eventOrder((key, e) => seen.push(`${key.stackId}:${e.seq}`));
  return { seen, append };
}

describe("eventOrder", () => {
  it("delivers overlapping appends in seq order though they finish out of order", async () => {
    const { seen, append } = recorder();
    const [one, two, three] = [deferred(1), deferred(2), deferred(3)];
    const p1 = append(A, one.run);
    const p2 = append(A, two.run);
    const p3 = append(A, three.run);
    three.finish();
    await p3;
    expect(seen).toEqual([]);
    one.finish();
    await p1;
    expect(seen).toEqual([]); // 2 is still being written
    two.finish();
    await p2;
    expect(seen).toEqual(["a:1", "a:2", "a:3"]);
  });

  it("once it knows the last seq, delivers the next at once while others are under way", async () => {
    const { seen, append } = recorder();
    const first = deferred(1);
    const p1 = append(A, first.run);
    first.finish();
    await p1;
    expect(seen).toEqual(["a:1"]);
    const [two, three, four] = [deferred(2), deferred(3), deferred(4)];
    const p2 = append(A, two.run);
    const p3 = append(A, three.run);
    const p4 = append(A, four.run);
    two.finish();
    await p2;
    expect(seen).toEqual(["a:1", "a:2"]);
    four.finish();
    await p4;
    expect(seen).toEqual(["a:1", "a:2"]);
    three.finish();
    await p3;
    expect(seen).toEqual(["a:1", "a:2", "a:3", "a:4"]);
  });

  it("delivers what it held when an append that took a seq fails, and the failure still throws", async () => {
    const { seen, append } = recorder();
    const [one, lost, three] = [deferred(1), deferred(2), deferred(3)];
    const p1 = append(A, one.run);
    const p2 = append(A, lost.run);
    const p3 = append(A, three.run);
    one.finish();
    three.finish();
    await Promise.all([p1, p3]);
    expect(seen).toEqual([]);
    lost.fail(new Error("store gone"));
    await expect(p2).rejects.toThrow("store gone");
    expect(seen).toEqual(["a:1", "a:3"]);
  });

  it("keeps stacks apart: one stack's appends under way hold back none of another's", async () => {
    const { seen, append } = recorder();
    const slow = deferred(1);
    const pa = append(A, slow.run);
    const other = deferred(7);
    const pb = append(B, other.run);
    other.finish();
    await pb;
    expect(seen).toEqual(["b:7"]);
    slow.finish();
    await pa;
    expect(seen).toEqual(["b:7", "a:1"]);
  });
});
