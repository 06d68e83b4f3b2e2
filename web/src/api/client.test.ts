import { describe, expect, it } from "vitest";
import { queryString } from "./client";

describe("REST client: query strings", () => {
  it("repeats the name of an array parameter and leaves out null and undefined", () => {
    expect(queryString({ keys: ["a/b", "c d"], run_ids: "x,y", n: 3, step_min: null, q: undefined })).toBe(
      "?keys=a%2Fb&keys=c%20d&run_ids=x%2Cy&n=3",
    );
    expect(queryString({ keys: [] })).toBe("");
    expect(queryString(undefined)).toBe("");
  });
});
