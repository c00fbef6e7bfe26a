import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  authorizationHeader,
  baseStringUri,
  collectParameters,
  hmacSha1,
  normalizeParameters,
  type OAuth1Param,
  parseAuthorizationHeader,
  percentEncode,
  sign,
  signatureBaseString,
  signingKey,
} from "../../../src/hooks/oauth1.ts";

/*
 * Published examples, copied from their sources, not computed here:
 * - RFC 5849 (OAuth 1.0), section 3.4.1.1 (signature base string), 3.4.1.2 (base string URI) and
 *   3.4.1.3.2 (normalized parameters). The RFC's signature values for these requests cannot be
 *   reproduced (errata 2550), so its base string is the check there.
 * - Twitter/X developer docs, "Creating a signature" (dev.twitter.com/oauth/overview/creating-signatures,
 *   later developer.x.com/en/docs/authentication/oauth-1-0a/creating-a-signature and
 *   docs.x.com/fundamentals/authentication/oauth-1-0a/creating-a-signature): the same request,
 *   credentials, nonce and timestamp over three URL versions, each with its published signature;
 *   "Authorizing a request" for the header; "Percent encoding parameters" for the encodings.
 */

const RFC_URL = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b";
const RFC_FORM: OAuth1Param[] = [
  ["c2", ""],
  ["a3", "2 q"],
];
const RFC_OAUTH: OAuth1Param[] = [
  ["oauth_consumer_key", "9djdj82h48djs9d2"],
  ["oauth_token", "kkk9d7dh3k39sjv7"],
  ["oauth_signature_method", "HMAC-SHA1"],
  ["oauth_timestamp", "137131201"],
  ["oauth_nonce", "7d8f3e4a"],
];
const RFC_NORMALIZED =
  "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9dj" +
  "dj82h48djs9d2&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1" +
  "&oauth_timestamp=137131201&oauth_token=kkk9d7dh3k39sjv7";
const RFC_BASE_STRING =
  "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q" +
  "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_" +
  "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m" +
  "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk" +
  "9d7dh3k39sjv7";

const X_CREDENTIALS = {
  consumerKey: "xvz1evFS4wEEPTGEFPHBog",
  consumerSecret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
  token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
  tokenSecret: "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
};
const X_OPTIONS = { nonce: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", timestamp: 1318622958 };
const X_STATUS: OAuth1Param[] = [["status", "Hello Ladies + Gentlemen, a signed OAuth request!"]];
const X_PARAMETER_STRING =
  "include_entities=true&oauth_consumer_key=xvz1evFS4wEEPTGEFPHBog&oauth_nonce=kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg" +
  "&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1318622958&oauth_token=370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb" +
  "&oauth_version=1.0&status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21";
const X_BASE_STRING =
  "POST&https%3A%2F%2Fapi.twitter.com%2F1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog" +
  "%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958" +
  "%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B" +
  "%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521";
const X_SIGNING_KEY = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw&LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE";
const X_HEADER =
  'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", ' +
  'oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", ' +
  'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"';

describe("percentEncode", () => {
  it("encodes the published examples as RFC 3986 requires", () => {
    expect(percentEncode("Ladies + Gentlemen")).toBe("Ladies%20%2B%20Gentlemen");
    expect(percentEncode("An encoded string!")).toBe("An%20encoded%20string%21");
    expect(percentEncode("Dogs, Cats & Mice")).toBe("Dogs%2C%20Cats%20%26%20Mice");
    expect(percentEncode("☃")).toBe("%E2%98%83");
  });

  it("keeps exactly the unreserved characters and encodes every other ASCII byte in upper-case hex", () => {
    const unreserved = /^[A-Za-z0-9\-._~]$/;
    for (let code = 0; code < 128; code++) {
      const c = String.fromCharCode(code);
      const expected = unreserved.test(c) ? c : `%${code.toString(16).toUpperCase().padStart(2, "0")}`;
      expect(percentEncode(c), `character ${code}`).toBe(expected);
    }
  });
});

describe("RFC 5849 example", () => {
  const params = collectParameters({ method: "POST", url: RFC_URL, formParams: RFC_FORM }, RFC_OAUTH);

  it("collects the query parameters decoded, then the form body, then the protocol parameters", () => {
    expect(params).toEqual([
      ["b5", "=%3D"],
      ["a3", "a"],
      ["c@", ""],
      ["a2", "r b"],
      ...RFC_FORM,
      ...RFC_OAUTH,
    ]);
  });

  it("normalizes the parameters as section 3.4.1.3.2 shows, sorting repeated names by value", () => {
    expect(normalizeParameters(params)).toBe(RFC_NORMALIZED);
  });

  it("builds the signature base string of section 3.4.1.1", () => {
    expect(signatureBaseString("post", RFC_URL, params)).toBe(RFC_BASE_STRING);
  });

  it("builds the base string URI of section 3.4.1.2: lower-case host, no default port, no query", () => {
    expect(baseStringUri("http://EXAMPLE.COM:80/r%20v/X?id=123")).toBe("http://example.com/r%20v/X");
    expect(baseStringUri("http://127.0.0.1:8080/2/tweets")).toBe("http://127.0.0.1:8080/2/tweets");
  });
});

describe("X developer docs example", () => {
  const request = {
    method: "POST",
    url: "https://api.twitter.com/1/statuses/update.json?include_entities=true",
    formParams: X_STATUS,
  };

  it("reproduces the parameter string, base string, signing key and signature", () => {
    const { signature, oauth, baseString } = sign(request, X_CREDENTIALS, X_OPTIONS);
    expect(normalizeParameters(collectParameters(request, oauth))).toBe(X_PARAMETER_STRING);
    expect(baseString).toBe(X_BASE_STRING);
    expect(signingKey(X_CREDENTIALS.consumerSecret, X_CREDENTIALS.tokenSecret)).toBe(X_SIGNING_KEY);
    expect(signature).toBe("tnnArxj06cWHq44gCs1OSKk/jLY=");
  });

  it("reproduces the published signature for each version of the example's URL", () => {
    const published = {
      "https://api.twitter.com/1/statuses/update.json": "tnnArxj06cWHq44gCs1OSKk/jLY=",
      "https://api.twitter.com/1.1/statuses/update.json": "hCtSmYh+iHYCEqBWrE7C7hYmtUk=",
      "https://api.x.com/1.1/statuses/update.json": "Ls93hJiZbQ3akF3HF3x1Bz8/zU4=",
    };
    for (const [url, signature] of Object.entries(published)) {
      const signed = sign({ ...request, url: `${url}?include_entities=true` }, X_CREDENTIALS, X_OPTIONS);
      expect(signed.signature, url).toBe(signature);
    }
  });

  it('builds the Authorization header of "Authorizing a request"', () => {
    expect(authorizationHeader(request, X_CREDENTIALS, X_OPTIONS)).toBe(X_HEADER);
  });

  it("computes HMAC-SHA1 as node:crypto does over the published base string and key", () => {
    const independent = createHmac("sha1", X_SIGNING_KEY).update(X_BASE_STRING).digest("base64");
    expect(hmacSha1(X_SIGNING_KEY, X_BASE_STRING)).toBe(independent);
  });
});

describe("signing a JSON request", () => {
  it("signs only the protocol parameters of POST /2/tweets: a JSON body is not in the base string", () => {
    const url = "https://api.x.com/2/tweets";
    const { baseString, oauth } = sign({ method: "POST", url }, X_CREDENTIALS, X_OPTIONS);
    expect(baseString).toBe(`POST&${percentEncode(url)}&${percentEncode(normalizeParameters(oauth))}`);
    expect(oauth.map(([k]) => k)).toEqual([
      "oauth_consumer_key",
      "oauth_nonce",
      "oauth_signature_method",
      "oauth_timestamp",
      "oauth_token",
      "oauth_version",
    ]);
  });

  it("uses a fresh nonce and the current time when none is given", () => {
    const url = "https://api.x.com/2/tweets";
    const a = parseAuthorizationHeader(authorizationHeader({ method: "POST", url }, X_CREDENTIALS));
    const b = parseAuthorizationHeader(authorizationHeader({ method: "POST", url }, X_CREDENTIALS));
    expect(a.oauth_nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(a.oauth_nonce).not.toBe(b.oauth_nonce);
    expect(Math.abs(Number(a.oauth_timestamp) - Date.now() / 1000)).toBeLessThan(5);
  });
});

describe("parseAuthorizationHeader", () => {
  it("decodes the published header back into its parameters", () => {
    expect(parseAuthorizationHeader(X_HEADER)).toEqual({
      oauth_consumer_key: "xvz1evFS4wEEPTGEFPHBog",
      oauth_nonce: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
      oauth_signature: "tnnArxj06cWHq44gCs1OSKk/jLY=",
      oauth_signature_method: "HMAC-SHA1",
      oauth_timestamp: "1318622958",
      oauth_token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
      oauth_version: "1.0",
    });
  });

  it("rejects a header that is not OAuth", () => {
    expect(() => parseAuthorizationHeader("Bearer abc")).toThrow(/not an OAuth Authorization header/);
  });
});
