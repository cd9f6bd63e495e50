// An auto-started daemon must not inherit the session that happened to start it (field note 14).
import { describe, expect, it } from "vitest";
import { daemonEnvironment } from "../../src/daemon-control.js";

describe("daemonEnvironment", () => {
  it("drops every CLAUDEMESH_* variable and keeps the rest", () => {
    const env = {
      PATH: "/usr/bin:/bin",
      HOME: "/home/ada",
      NO_COLOR: "1",
      LANG: "C.UTF-8",
      CLAUDEMESH_SESSION_ID: "s",
      CLAUDEMESH_IPC_TOKEN_FILE: "/tmp/claudemesh-x/token",
      CLAUDEMESH_MESH: "m",
      CLAUDEMESH_DISPLAY_NAME: "n",
      CLAUDEMESH_DAEMON_DIR: "/d",
      CLAUDEMESH_NO_AUTOSTART: "1",
      CLAUDEMESH_SOMETHING_ADDED_LATER: "x",
      CLAUDEMESH_: "",
    };
    const copy = { ...env };
    expect(daemonEnvironment(env)).toStrictEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/ada",
      NO_COLOR: "1",
      LANG: "C.UTF-8",
    });
    expect(env).toStrictEqual(copy);
  });

  it("keeps variables that merely mention claudemesh", () => {
    const env = { MY_CLAUDEMESH_NOTE: "a", XCLAUDEMESH_Y: "b" };
    expect(daemonEnvironment(env)).toStrictEqual(env);
  });
});
