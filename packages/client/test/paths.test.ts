import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkSocketPath,
  DEFAULT_MAX_SOCKET_PATH_BYTES,
  daemonPaths,
  LOCK_FILE,
  LOG_FILE,
  MAX_SOCKET_PATH_BYTES,
  maxSocketPathBytes,
  resolveDaemonDir,
  SOCKET_FILE,
  SocketPathTooLongError,
  START_CLAIM_FILE,
  STATE_FILE,
} from "../src/paths.js";

describe("resolveDaemonDir", () => {
  it("defaults to ~/.claudemesh/daemon", () => {
    expect(resolveDaemonDir({}, "/home/alice")).toBe("/home/alice/.claudemesh/daemon");
  });

  it("uses CLAUDEMESH_DAEMON_DIR when set", () => {
    expect(resolveDaemonDir({ CLAUDEMESH_DAEMON_DIR: "/srv/cm" }, "/home/alice")).toBe("/srv/cm");
  });

  it("makes a relative override absolute", () => {
    expect(resolveDaemonDir({ CLAUDEMESH_DAEMON_DIR: "rel/dir" }, "/home/alice")).toBe(resolve("rel/dir"));
  });

  it("ignores an empty override", () => {
    expect(resolveDaemonDir({ CLAUDEMESH_DAEMON_DIR: "" }, "/home/alice")).toBe("/home/alice/.claudemesh/daemon");
  });

  it("is moved by nothing else: not HOME, XDG dirs, TMPDIR or the variables launch sets in a session", () => {
    const env = {
      HOME: "/elsewhere",
      XDG_RUNTIME_DIR: "/run/user/1000",
      XDG_STATE_HOME: "/state",
      TMPDIR: "/var/tmp",
      CLAUDEMESH_SESSION_ID: "s1",
      CLAUDEMESH_MESH: "team",
      CLAUDEMESH_IPC_TOKEN_FILE: "/tmp/x/token",
      CLAUDEMESH_DISPLAY_NAME: "n",
    };
    expect(resolveDaemonDir(env, "/home/alice")).toBe("/home/alice/.claudemesh/daemon");
  });
});

describe("daemonPaths", () => {
  it("names every file inside the dir", () => {
    expect(daemonPaths("/d")).toEqual({
      dir: "/d",
      socket: "/d/daemon.sock",
      lock: "/d/daemon.lock",
      log: "/d/daemon.log",
      state: "/d/sessions.jsonl",
      startClaim: "/d/daemon.starting",
      memberKey: "/d/member.key",
      messages: "/d/messages.jsonl",
      meshes: "/d/meshes.json",
    });
    expect([SOCKET_FILE, LOCK_FILE, LOG_FILE, STATE_FILE, START_CLAIM_FILE]).toEqual([
      "daemon.sock",
      "daemon.lock",
      "daemon.log",
      "sessions.jsonl",
      "daemon.starting",
    ]);
  });
});

describe("checkSocketPath", () => {
  const pathOf = (bytes: number) => `/${"a".repeat(bytes - 1)}`;

  it("knows the usable sun_path bytes per platform", () => {
    expect(MAX_SOCKET_PATH_BYTES.linux).toBe(107);
    expect(MAX_SOCKET_PATH_BYTES.darwin).toBe(103);
    expect(maxSocketPathBytes("linux")).toBe(107);
    expect(maxSocketPathBytes("freebsd")).toBe(103);
    expect(maxSocketPathBytes("aix")).toBe(DEFAULT_MAX_SOCKET_PATH_BYTES);
    expect(maxSocketPathBytes()).toBe(maxSocketPathBytes(process.platform));
  });

  it("accepts a path at the limit and refuses one byte more on Linux", () => {
    expect(() => checkSocketPath(pathOf(107), "linux")).not.toThrow();
    expect(() => checkSocketPath(pathOf(108), "linux")).toThrow(SocketPathTooLongError);
  });

  it("is stricter on macOS", () => {
    expect(() => checkSocketPath(pathOf(103), "darwin")).not.toThrow();
    expect(() => checkSocketPath(pathOf(104), "darwin")).toThrow(SocketPathTooLongError);
  });

  it("counts bytes, not characters", () => {
    const path = `/${"é".repeat(60)}`; // 61 characters, 121 bytes
    expect(() => checkSocketPath(path, "linux")).toThrow(/121 bytes/);
  });

  it("says how long, the limit and the fix", () => {
    const path = join("/", "x".repeat(200), "daemon.sock");
    let error: unknown;
    try {
      checkSocketPath(path, "linux");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SocketPathTooLongError);
    const e = error as SocketPathTooLongError;
    expect(e.bytes).toBe(Buffer.byteLength(path));
    expect(e.limit).toBe(107);
    expect(e.path).toBe(path);
    expect(e.name).toBe("SocketPathTooLongError");
    expect(e.message).toContain(`${Buffer.byteLength(path)} bytes`);
    expect(e.message).toContain("107-byte limit");
    expect(e.message).toContain("CLAUDEMESH_DAEMON_DIR");
  });
});
