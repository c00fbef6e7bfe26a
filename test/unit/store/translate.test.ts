import { describe, expect, it } from "vitest";
import {
  ItemTooLargeError,
  StoreError,
  StoreThrottledError,
  StoreUnavailableError,
  TableNotFoundError,
} from "../../../src/store/errors.ts";
import { translateError } from "../../../src/store/translate.ts";

/** A network error as Node makes it: a message, a code, an errno and the syscall. */
function netError(code: string, errno: number, syscall = "connect"): Error {
  return Object.assign(new Error(`${syscall} ${code} /state/store/daemon.sock`), { code, errno, syscall });
}

describe("translateError", () => {
  it("makes a full connection queue on the daemon's socket (EAGAIN) a throttle, which the machines retry", () => {
    const err = translateError(netError("EAGAIN", -11), "GetItem", "t");
    expect(err).toBeInstanceOf(StoreThrottledError);
    expect(err.message).toBe("DynamoDB throttled GetItem after the SDK's retries; try again later");
    // Wrapped one level down, as the SDK can deliver it.
    const wrapped = Object.assign(new Error("socket hang up"), { cause: netError("EAGAIN", -11) });
    expect(translateError(wrapped, "PutItem", "t")).toBeInstanceOf(StoreThrottledError);
  });

  it("keeps an unreachable daemon unavailable, and DynamoDB's own throttling a throttle", () => {
    expect(translateError(netError("ECONNREFUSED", -111), "GetItem", "t")).toBeInstanceOf(
      StoreUnavailableError,
    );
    const throttled = Object.assign(new Error("slow down"), { name: "ThrottlingException" });
    expect(translateError(throttled, "Query", "t")).toBeInstanceOf(StoreThrottledError);
  });

  it("names a missing table, an item too large, and anything else as a plain store error", () => {
    const missing = Object.assign(new Error("no table"), { name: "ResourceNotFoundException" });
    expect(translateError(missing, "GetItem", "tbl")).toBeInstanceOf(TableNotFoundError);
    const big = Object.assign(new Error("Item size has exceeded the maximum allowed size"), {
      name: "ValidationException",
    });
    expect(translateError(big, "PutItem", "t", "stack `s1`")).toBeInstanceOf(ItemTooLargeError);
    const other = translateError(new TypeError("boom"), "Scan", "t");
    expect(other).toBeInstanceOf(StoreError);
    expect(other).not.toBeInstanceOf(StoreThrottledError);
    expect(other.message).toBe("DynamoDB Scan failed: TypeError: boom");
  });
});
