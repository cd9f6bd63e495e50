// `managed_by` in /v1/health: only the values a unit or plist of `claudemesh daemon install` sets.
import { describe, expect, it } from "vitest";
import { managedBy } from "../../src/http/routes.js";

describe("managedBy", () => {
  it("reads systemd and launchd from CLAUDEMESH_MANAGED_BY", () => {
    expect(managedBy({ CLAUDEMESH_MANAGED_BY: "systemd" })).toBe("systemd");
    expect(managedBy({ CLAUDEMESH_MANAGED_BY: "launchd" })).toBe("launchd");
  });

  it.each([undefined, "", "Systemd", "pm2", "systemd ", "null"])("is null for %j", (value) => {
    expect(managedBy(value === undefined ? {} : { CLAUDEMESH_MANAGED_BY: value })).toBeNull();
  });
});
