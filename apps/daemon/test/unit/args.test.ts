import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { DAEMON_USAGE, parseDaemonArgs, UsageError } from "../../src/args.js";

const HOME = "/home/alice";

describe("parseDaemonArgs", () => {
  it("defaults: dir under the home dir, reaper 5000 ms, self-check and maintenance 60000 ms, not in the foreground", () => {
    expect(parseDaemonArgs([], {}, HOME)).toEqual({
      dir: "/home/alice/.claudemesh/daemon",
      foreground: false,
      reaperIntervalMs: 5_000,
      selfCheckIntervalMs: 60_000,
      maintenanceIntervalMs: 60_000,
    });
  });

  it("takes the dir from CLAUDEMESH_DAEMON_DIR, made absolute", () => {
    expect(parseDaemonArgs([], { CLAUDEMESH_DAEMON_DIR: "/srv/cm" }, HOME)).toMatchObject({ dir: "/srv/cm" });
    expect(parseDaemonArgs([], { CLAUDEMESH_DAEMON_DIR: "rel/dir" }, HOME)).toMatchObject({ dir: resolve("rel/dir") });
    // Empty counts as unset.
    expect(parseDaemonArgs([], { CLAUDEMESH_DAEMON_DIR: "" }, HOME)).toMatchObject({
      dir: "/home/alice/.claudemesh/daemon",
    });
  });

  it("ignores every other variable (a session's own variables never move the daemon)", () => {
    const env = {
      CLAUDEMESH_SESSION_ID: "x",
      CLAUDEMESH_MESH: "m",
      HOME: "/elsewhere",
      XDG_RUNTIME_DIR: "/run/user/0",
    };
    expect(parseDaemonArgs([], env, HOME)).toMatchObject({ dir: "/home/alice/.claudemesh/daemon" });
  });

  it("--dir overrides the environment", () => {
    const env = { CLAUDEMESH_DAEMON_DIR: "/from/env" };
    expect(parseDaemonArgs(["--dir", "/from/flag"], env, HOME)).toMatchObject({ dir: "/from/flag" });
    expect(parseDaemonArgs(["--dir=/from/flag2"], env, HOME)).toMatchObject({ dir: "/from/flag2" });
  });

  it("reads --foreground and the three intervals", () => {
    expect(
      parseDaemonArgs(
        [
          "--foreground",
          "--reaper-interval-ms",
          "250",
          "--self-check-interval-ms=10",
          "--maintenance-interval-ms",
          "500",
        ],
        {},
        HOME,
      ),
    ).toEqual({
      dir: "/home/alice/.claudemesh/daemon",
      foreground: true,
      reaperIntervalMs: 250,
      selfCheckIntervalMs: 10,
      maintenanceIntervalMs: 500,
    });
    expect(parseDaemonArgs(["--reaper-interval-ms", "86400000"], {}, HOME)).toMatchObject({
      reaperIntervalMs: 86_400_000,
    });
  });

  it("--help and -h ask for help, whatever else is given", () => {
    expect(parseDaemonArgs(["--help"], {}, HOME)).toBe("help");
    expect(parseDaemonArgs(["-h"], {}, HOME)).toBe("help");
    expect(parseDaemonArgs(["--foreground", "--help", "--reaper-interval-ms", "5"], {}, HOME)).toBe("help");
    expect(DAEMON_USAGE).toMatch(/^usage: claudemesh-daemon/);
  });

  it("refuses an unknown option, naming it", () => {
    expect(() => parseDaemonArgs(["--bogus"], {}, HOME)).toThrow(UsageError);
    expect(() => parseDaemonArgs(["--bogus"], {}, HOME)).toThrow(/--bogus/);
    expect(() => parseDaemonArgs(["-x"], {}, HOME)).toThrow(/-x/);
  });

  it("refuses positional arguments and a missing option value", () => {
    expect(() => parseDaemonArgs(["start"], {}, HOME)).toThrow(UsageError);
    expect(() => parseDaemonArgs(["--dir"], {}, HOME)).toThrow(UsageError);
    expect(() => parseDaemonArgs(["--dir"], {}, HOME)).toThrow(/--dir/);
  });

  it.each([
    ["reaper-interval-ms", "abc"],
    ["reaper-interval-ms", "9"],
    ["reaper-interval-ms", "0"],
    ["reaper-interval-ms", "-5"],
    ["reaper-interval-ms", "10.5"],
    ["reaper-interval-ms", "1e3"],
    ["reaper-interval-ms", ""],
    ["reaper-interval-ms", " 100"],
    ["reaper-interval-ms", "86400001"],
    ["self-check-interval-ms", "fast"],
    ["self-check-interval-ms", "5"],
    ["self-check-interval-ms", "60000.0"],
  ])("refuses --%s=%j, naming the option", (option, value) => {
    const parse = () => parseDaemonArgs([`--${option}=${value}`], {}, HOME);
    expect(parse).toThrow(UsageError);
    expect(parse).toThrow(`--${option}`);
  });

  it("UsageError is an Error with its own name", () => {
    try {
      parseDaemonArgs(["--reaper-interval-ms", "1"], {}, HOME);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe("UsageError");
      expect((error as Error).message).toMatch(/from 10 to 86400000.*"1"/);
    }
  });
});
