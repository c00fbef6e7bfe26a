import { describe, expect, it } from "vitest";
import { isRetryable } from "../../../../src/core/error-names.ts";
import { translateAwsError } from "../../../../src/providers/aws/errors.ts";
import { ProviderError, ProviderRequestError } from "../../../../src/providers/errors.ts";

/** An error shaped as the SDK throws them (ServiceException: name, $metadata). */
function sdkError(name: string, status = 400): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $fault: "client",
    $metadata: { httpStatusCode: status },
  });
}

describe("translating AWS errors", () => {
  it("makes throttling and unreachable AWS a ProviderThrottledError, which the ASL retries", () => {
    for (const err of [
      sdkError("RequestLimitExceeded", 503),
      sdkError("Throttling"),
      sdkError("ThrottlingException"),
      sdkError("Anything", 429),
      sdkError("InternalError", 500),
      sdkError("Unavailable", 503),
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      Object.assign(new Error("timed out"), { name: "TimeoutError" }),
    ]) {
      const out = translateAwsError(err, "EC2 RunInstances");
      expect(out.name, err.name).toBe("ProviderThrottledError");
      expect(isRetryable(out.name)).toBe(true);
      expect(out.cause).toBe(err);
    }
  });

  it("makes a bad request a ProviderRequestError and anything else an AwsApiError, never the SDK's class", () => {
    expect(translateAwsError(sdkError("InvalidAMIID.NotFound"), "x")).toBeInstanceOf(ProviderRequestError);
    expect(translateAwsError(sdkError("InvalidParameterValue"), "x")).toBeInstanceOf(ProviderRequestError);
    const denied = translateAwsError(sdkError("UnauthorizedOperation", 403), "EC2 RunInstances");
    expect(denied.name).toBe("AwsApiError");
    expect(denied.message).toMatch(
      /EC2 RunInstances: the team's credential may not do this \(UnauthorizedOperation\)/,
    );
    const other = translateAwsError(sdkError("VcpuLimitExceeded"), "EC2 RunInstances");
    expect(other).toBeInstanceOf(ProviderError);
    expect(other.message).toBe("EC2 RunInstances: VcpuLimitExceeded: VcpuLimitExceeded happened");
  });
});
