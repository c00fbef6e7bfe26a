import type { StackEvent, StackKey } from "../ports/store.ts";

interface StackOrder {
  /** Appends of the stack begun and not yet finished. */
  inflight: number;
  /** The last seq delivered (unknown until the first quiet moment of the stack). */
  last: number | undefined;
  /** Events appended, not delivered yet. */
  held: StackEvent[];
}

/**
 * Delivers each stack's events to `deliver` in `seq` order. An append takes its seq from the
 * stack's counter, then writes the event, so two appends of one stack that overlap can finish in
 * the other order (seq 3 written before seq 2); a reader of the live stream (`--json`, the live
 * table, serve's event stream and its Last-Event-ID) would see 3 before 2. Each finished event is
 * held until every seq before it is delivered, or until no append of the stack is under way (an
 * append that failed after taking its seq leaves a gap that nothing fills: the quiet moment
 * delivers what is held, in order). A stack's entry (a few numbers) stays for the process's life,
 * so that its next event is delivered at once when it follows the last.
 */
export function eventOrder(deliver: (key: StackKey, event: StackEvent) => void) {
  const stacks = new Map<string, StackOrder>();

  const flush = (key: StackKey, s: StackOrder): void => {
    s.held.sort((a, b) => a.seq - b.seq);
    while (s.held.length > 0) {
      const next = s.held[0] as StackEvent;
      if (s.inflight > 0 && (s.last === undefined || next.seq !== s.last + 1)) break;
      s.held.shift();
      s.last = next.seq;
      deliver(key, next);
    }
  };

  /** Runs one append of `key`'s stack, delivering its event (and any it released) in order. */
  return async function append(key: StackKey, run: () => Promise<StackEvent>): Promise<StackEvent> {
    const id = `${key.team}\u0000${key.stackId}`;
    let s = stacks.get(id);
    if (!s) {
      s = { inflight: 0, last: undefined, held: [] };
      stacks.set(id, s);
    }
    s.inflight++;
    try {
      const event = await run();
      s.held.push(event);
      return event;
    } finally {
      s.inflight--;
      flush(key, s);
    }
  };
}
