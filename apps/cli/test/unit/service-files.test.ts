// The login-service files `claudemesh daemon install` writes: the systemd unit and the launchd
// plist are pure functions of their paths, checked here on every platform, including paths with
// the characters each format must escape.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ciValue } from "../../src/commands/service.js";
import { launchdPlist, parseProgramArguments, xmlEscape } from "../../src/service/launchd-plist.js";
import { serviceCommands, serviceFilePath, serviceManagerFor, shellLine } from "../../src/service/platform.js";
import { dirArgument, type ServiceSpec, ServiceValueError } from "../../src/service/service-spec.js";
import { parseExecStart, systemdUnit, systemdWord } from "../../src/service/systemd-unit.js";
import { parsePlist, parseXml } from "../support/plist.js";

const PLAIN: ServiceSpec = {
  execPath: "/usr/local/bin/node",
  program: "/usr/local/lib/node_modules/claudemesh/dist/daemon.js",
  dir: "/home/ada/.claudemesh/daemon",
  log: "/home/ada/.claudemesh/daemon/daemon.log",
};

/** Every character the formats treat specially, in every path. */
const TRICKY: ServiceSpec = {
  execPath: "/opt/My Node/bin/node",
  program: "/opt/a\"b'c\\d/100%/$HOME/daemon.js",
  dir: '/home/ada/it\'s 100% <mine> & "yours"/$(X)',
  log: '/home/ada/it\'s 100% <mine> & "yours"/$(X)/daemon.log',
};

const has = (command: string) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
const temp = mkdtempSync(join(tmpdir(), "cm-unit-"));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe("systemd unit", () => {
  it("is the expected unit, line by line", () => {
    expect(systemdUnit(PLAIN).split("\n")).toEqual([
      "# Written by `claudemesh daemon install`; remove it with `claudemesh daemon uninstall`.",
      "[Unit]",
      "Description=claudemesh daemon (registry of live agent sessions)",
      "",
      "[Service]",
      "Type=exec",
      "ExecStart=/usr/local/bin/node /usr/local/lib/node_modules/claudemesh/dist/daemon.js --foreground --dir /home/ada/.claudemesh/daemon",
      "Environment=CLAUDEMESH_MANAGED_BY=systemd",
      "UMask=0077",
      "Restart=on-failure",
      "RestartSec=1",
      "StandardOutput=append:/home/ada/.claudemesh/daemon/daemon.log",
      "StandardError=append:/home/ada/.claudemesh/daemon/daemon.log",
      "",
      "[Install]",
      "WantedBy=default.target",
      "",
    ]);
  });

  it("quotes and escapes ExecStart words as systemd reads them", () => {
    expect(systemdWord("/a/b")).toBe("/a/b");
    expect(systemdWord("/a b")).toBe('"/a b"');
    expect(systemdWord("/100%")).toBe('"/100%%"');
    expect(systemdWord("/$HOME")).toBe('"/$$HOME"');
    expect(systemdWord('/a"b\\c')).toBe('"/a\\"b\\\\c"');
    const unit = systemdUnit(TRICKY);
    // In `append:` the rest of the line is the path: only specifiers are escaped.
    expect(unit).toContain('\nStandardError=append:/home/ada/it\'s 100%% <mine> & "yours"/$(X)/daemon.log\n');
  });

  it("reads its own ExecStart back exactly, whatever the paths", () => {
    for (const spec of [PLAIN, TRICKY]) {
      const argv = parseExecStart(systemdUnit(spec), "/home/ada");
      expect(argv).toEqual([spec.execPath, spec.program, "--foreground", "--dir", spec.dir]);
      expect(dirArgument(argv ?? [])).toBe(spec.dir);
    }
  });

  it("reads hand-written ExecStart lines: prefixes, %h, single quotes, escapes", () => {
    expect(
      parseExecStart("[Service]\nExecStart=-/usr/bin/node '%h/x y/daemon.js' --dir=%h/d\\x41\n", "/home/ada"),
    ).toEqual(["/usr/bin/node", "/home/ada/x y/daemon.js", "--dir=/home/ada/dA"]);
    expect(parseExecStart("[Service]\nExecStart=\n", "/h")).toBeUndefined();
    expect(parseExecStart('[Service]\nExecStart="/unterminated\n', "/h")).toBeUndefined();
  });

  it("refuses a path systemd cannot express, naming the fix", () => {
    expect(() => systemdUnit({ ...PLAIN, dir: "/home/ada/new\nline" })).toThrow(ServiceValueError);
    expect(() => systemdUnit({ ...PLAIN, dir: "/home/ada/new\nline" })).toThrow(
      /control character.*CLAUDEMESH_DAEMON_DIR/,
    );
    expect(() => systemdUnit({ ...PLAIN, execPath: "node" })).toThrow(/not an absolute path/);
  });

  it.skipIf(!has("systemd-analyze"))(
    `passes systemd-analyze verify --user, tricky paths included${has("systemd-analyze") ? "" : " (skipped: systemd-analyze is not installed)"}`,
    () => {
      const runtime = join(temp, "runtime");
      mkdirSync(runtime, { mode: 0o700, recursive: true });
      // systemd-analyze checks that the executable exists; the rest may be anywhere.
      for (const [name, spec] of [
        ["plain", { ...PLAIN, execPath: process.execPath }],
        ["tricky", { ...TRICKY, execPath: process.execPath }],
      ] as const) {
        const file = join(temp, name, "claudemesh.service");
        mkdirSync(join(temp, name), { recursive: true });
        writeFileSync(file, systemdUnit(spec));
        const res = spawnSync("systemd-analyze", ["verify", "--user", file], {
          encoding: "utf8",
          env: { ...process.env, XDG_RUNTIME_DIR: runtime },
        });
        expect(res.stderr).toBe("");
        expect(res.status).toBe(0);
      }
    },
  );
});

describe("launchd plist", () => {
  it("is a well-formed plist with the expected keys", () => {
    expect(parsePlist(launchdPlist(PLAIN))).toEqual({
      Label: "dev.claudemesh.daemon",
      ProgramArguments: [PLAIN.execPath, PLAIN.program, "--foreground", "--dir", PLAIN.dir],
      EnvironmentVariables: { CLAUDEMESH_MANAGED_BY: "launchd" },
      WorkingDirectory: PLAIN.dir,
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      Umask: 0o077,
      StandardOutPath: PLAIN.log,
      StandardErrorPath: PLAIN.log,
    });
  });

  it("escapes every value: the tricky paths come back exactly", () => {
    const xml = launchdPlist(TRICKY);
    const plist = parsePlist(xml) as Record<string, unknown>;
    expect(plist.ProgramArguments).toEqual([TRICKY.execPath, TRICKY.program, "--foreground", "--dir", TRICKY.dir]);
    expect(plist.StandardErrorPath).toBe(TRICKY.log);
    expect(parseProgramArguments(xml)).toEqual(plist.ProgramArguments);
    expect(xmlEscape("a&b<c>\"d'\te\n")).toBe("a&#38;b&#60;c&#62;&#34;d&#39;&#9;e&#10;");
  });

  it("refuses characters XML cannot carry", () => {
    expect(() => launchdPlist({ ...PLAIN, dir: "/Users/ada/\u0001" })).toThrow(ServiceValueError);
  });

  it("the strict reader itself rejects broken XML", () => {
    const ok = launchdPlist(PLAIN);
    expect(() => parseXml(ok.replace("</array>", ""))).toThrow();
    expect(() => parseXml(ok.replace("<string>--dir</string>", "<string>a & b</string>"))).toThrow(/entity/);
    expect(() => parseXml(ok.replace("<key>Label</key>", "<key>Label</string>"))).toThrow(/closes/);
    expect(() => parsePlist(ok.replace("<key>RunAtLoad</key>", ""))).toThrow();
  });

  it.skipIf(!has("plutil"))(
    `passes plutil -lint${has("plutil") ? "" : " (skipped: plutil exists only on macOS)"}`,
    () => {
      const file = join(temp, "dev.claudemesh.daemon.plist");
      writeFileSync(file, launchdPlist(TRICKY));
      const res = spawnSync("plutil", ["-lint", file], { encoding: "utf8" });
      expect(res.status).toBe(0);
    },
  );
});

describe("where and how", () => {
  it("systemd on Linux, launchd on macOS, nothing elsewhere", () => {
    expect(serviceManagerFor("linux")).toBe("systemd");
    expect(serviceManagerFor("darwin")).toBe("launchd");
    expect(serviceManagerFor("win32")).toBeUndefined();
  });

  it("puts the unit under $XDG_CONFIG_HOME when it is absolute, else ~/.config", () => {
    expect(serviceFilePath("systemd", {}, "/home/ada")).toBe("/home/ada/.config/systemd/user/claudemesh.service");
    expect(serviceFilePath("systemd", { XDG_CONFIG_HOME: "/cfg" }, "/home/ada")).toBe(
      "/cfg/systemd/user/claudemesh.service",
    );
    expect(serviceFilePath("systemd", { XDG_CONFIG_HOME: "rel" }, "/home/ada")).toBe(
      "/home/ada/.config/systemd/user/claudemesh.service",
    );
    expect(serviceFilePath("launchd", { XDG_CONFIG_HOME: "/cfg" }, "/Users/ada")).toBe(
      "/Users/ada/Library/LaunchAgents/dev.claudemesh.daemon.plist",
    );
  });

  it("drives systemctl --user and launchctl gui/<uid>", () => {
    const systemd = serviceCommands("systemd", "/f", 501);
    expect(systemd.load).toEqual([["systemctl", "--user", "daemon-reload"]]);
    expect(systemd.enable).toEqual([["systemctl", "--user", "enable", "--now", "claudemesh.service"]]);
    expect(systemd.start).toEqual(["systemctl", "--user", "start", "claudemesh.service"]);
    const launchd = serviceCommands("launchd", "/Users/a b/x.plist", 501);
    expect(launchd.load).toEqual([["launchctl", "bootstrap", "gui/501", "/Users/a b/x.plist"]]);
    expect(launchd.start).toEqual(["launchctl", "kickstart", "gui/501/dev.claudemesh.daemon"]);
    expect(shellLine(launchd.load[0] ?? [])).toBe("launchctl bootstrap gui/501 '/Users/a b/x.plist'");
  });

  it.each([
    [undefined, undefined],
    ["", undefined],
    ["0", undefined],
    ["false", undefined],
    ["FALSE", undefined],
    ["true", "true"],
    ["1", "1"],
    ["github-actions", "github-actions"],
  ])("CI=%j means inside CI: %j", (value, expected) => {
    expect(ciValue(value === undefined ? {} : { CI: value })).toBe(expected);
  });
});
