// The login service of `mesh host NAME --install`: the same command line, attached, in a unit or
// agent named after the mesh, with the daemon dir it binds, every path absolute and quoted.
import { describe, expect, it } from "vitest";
import {
  type HostServiceSpec,
  hostArgv,
  hostLaunchdPlist,
  hostServiceName,
  hostServicePath,
  hostSystemdUnit,
} from "../../src/service/host-service.js";
import { serviceCommands } from "../../src/service/platform.js";

const spec: HostServiceSpec = {
  execPath: "/usr/bin/node",
  cli: "/opt/claudemesh/dist/cli.js",
  mesh: "team",
  hostDir: "/home/ana/.claudemesh/host/team",
  daemonDir: "/home/ana/my dir/daemon",
  listen: "0.0.0.0:4222",
  advertise: ["nats://box:4222"],
  log: "/home/ana/.claudemesh/host/team/host.log",
};

describe("mesh host --install", () => {
  it("runs mesh host with this run's options, under the daemon dir it binds", () => {
    expect(hostArgv(spec)).toEqual([
      "/usr/bin/node",
      "/opt/claudemesh/dist/cli.js",
      "mesh",
      "host",
      "team",
      "--dir",
      "/home/ana/.claudemesh/host/team",
      "--listen",
      "0.0.0.0:4222",
      "--advertise",
      "nats://box:4222",
    ]);
    const unit = hostSystemdUnit(spec);
    expect(unit).toContain(
      "ExecStart=/usr/bin/node /opt/claudemesh/dist/cli.js mesh host team --dir /home/ana/.claudemesh/host/team --listen 0.0.0.0:4222 --advertise nats://box:4222\n",
    );
    expect(unit).toContain('Environment="CLAUDEMESH_DAEMON_DIR=/home/ana/my dir/daemon"\n');
    expect(unit).toContain("Restart=on-failure\n");
    const plist = hostLaunchdPlist(spec);
    expect(plist).toContain("<string>dev.claudemesh.host.team</string>");
    expect(plist).toContain("<key>CLAUDEMESH_DAEMON_DIR</key>\n    <string>/home/ana/my dir/daemon</string>");
  });

  it("has a name and a file per mesh, and refuses a relative path", () => {
    expect(hostServiceName("systemd", "team")).toBe("claudemesh-host-team.service");
    expect(hostServicePath("systemd", {}, "/home/ana", "team")).toBe(
      "/home/ana/.config/systemd/user/claudemesh-host-team.service",
    );
    expect(hostServicePath("launchd", {}, "/Users/ana", "team")).toBe(
      "/Users/ana/Library/LaunchAgents/dev.claudemesh.host.team.plist",
    );
    expect(serviceCommands("systemd", "f", 0, "claudemesh-host-team.service").enable).toEqual([
      ["systemctl", "--user", "enable", "--now", "claudemesh-host-team.service"],
    ]);
    expect(() => hostSystemdUnit({ ...spec, hostDir: "host" })).toThrow(/not an absolute path/);
  });
});
