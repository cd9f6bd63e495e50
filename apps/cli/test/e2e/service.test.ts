// `claudemesh daemon install|uninstall` on Linux, into a temp HOME: the systemd user unit, the
// fallback when systemd cannot be reached, the CI refusal, and auto-start through the unit.
// systemd itself cannot run here, so a stand-in `systemctl` on PATH records every call and runs
// the unit's ExecStart the way systemd would (clean environment, output appended to the log).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { launchArgs, type Sandbox, sandbox, waitFor, withoutPresence } from "../support/harness.js";

const DAEMON_JS = new URL("../../dist/daemon.js", import.meta.url).pathname;
const HAS_ANALYZE = spawnSync("sh", ["-c", "command -v systemd-analyze"]).status === 0;

interface ServiceWorld {
  readonly home: string;
  readonly unit: string;
  /** Environment for the CLI: the temp HOME, no XDG_CONFIG_HOME, not in CI. */
  readonly env: Record<string, string | undefined>;
  /** The calls the stand-in systemctl received, one line each (empty without it). */
  calls(): string[];
}

const FAKE_SYSTEMCTL = `#!/bin/sh
# Stand-in for systemctl --user: records the call; start runs the unit's ExecStart detached, with
# a clean environment plus its Environment= line, stdout and stderr appended to the unit's log.
printf '%s\\n' "$*" >> "$FAKE_SYSTEMCTL_LOG"
unit="$HOME/.config/systemd/user/claudemesh.service"
start() {
  cmd=$(sed -n 's/^ExecStart=//p' "$unit")
  log=$(sed -n 's/^StandardError=append://p' "$unit")
  env -i HOME="$HOME" CLAUDEMESH_MANAGED_BY=systemd sh -c "exec $cmd" </dev/null >>"$log" 2>&1 &
}
stop() {
  pid=$(sed -n 's/^{"pid":\\([0-9]*\\).*/\\1/p' "$CLAUDEMESH_DAEMON_DIR/daemon.lock" 2>/dev/null)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null
  i=0
  while [ -d "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null && [ "$i" -lt 250 ]; do
    sleep 0.02; i=$((i + 1))
  done
}
case "$*" in
  "--user daemon-reload") ;;
  "--user enable --now claudemesh.service" | "--user start claudemesh.service") start ;;
  "--user disable --now claudemesh.service") stop ;;
  *) echo "fake systemctl: unexpected: $*" >&2; exit 1 ;;
esac
`;

/** A temp HOME; `systemctl: "absent"` leaves only an empty dir on PATH, "fake" puts the stand-in first. */
function world(sb: Sandbox, systemctl: "absent" | "fake"): ServiceWorld {
  const home = join(sb.root, "h");
  mkdirSync(home, { recursive: true });
  const bin = join(sb.root, "bin");
  mkdirSync(bin, { recursive: true });
  const log = join(sb.root, "systemctl.calls");
  if (systemctl === "fake") {
    writeFileSync(join(bin, "systemctl"), FAKE_SYSTEMCTL);
    chmodSync(join(bin, "systemctl"), 0o755);
  }
  return {
    home,
    unit: join(home, ".config", "systemd", "user", "claudemesh.service"),
    env: {
      HOME: home,
      XDG_CONFIG_HOME: undefined,
      CI: undefined,
      FAKE_SYSTEMCTL_LOG: log,
      PATH: systemctl === "fake" ? `${bin}:${process.env.PATH}` : bin,
    },
    calls: () => (existsSync(log) ? readFileSync(log, "utf8").trimEnd().split("\n") : []),
  };
}

describe.skipIf(process.platform !== "linux")("daemon install (systemd)", () => {
  it("--force --dry-run prints the unit and writes nothing", async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "absent");
    const res = await sb.run(["daemon", "install", "--force", "--dry-run"], { env: { ...w.env, CI: "true" } });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("");
    const lines = res.stdout.split("\n");
    expect(lines).toContain("[Service]");
    expect(lines).toContain(`ExecStart=${process.execPath} ${DAEMON_JS} --foreground --dir ${sb.dir}`);
    expect(lines).toContain("Restart=on-failure");
    expect(lines).toContain("RestartSec=1");
    expect(lines).toContain("Environment=CLAUDEMESH_MANAGED_BY=systemd");
    expect(lines).toContain(`StandardOutput=append:${sb.log}`);
    expect(lines).toContain(`StandardError=append:${sb.log}`);
    expect(lines).toContain("[Install]");
    expect(lines).toContain("WantedBy=default.target");
    expect(existsSync(w.unit)).toBe(false);
    expect(existsSync(sb.dir)).toBe(false);
  });

  it(`the unit it writes passes systemd-analyze verify --user, a dir with spaces included${HAS_ANALYZE ? "" : " (skipped: systemd-analyze is not installed)"}`, async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "absent");
    const dir = join(sb.root, "my daemon 100%");
    const res = await sb.run(["daemon", "install", "--force"], { env: { ...w.env, CLAUDEMESH_DAEMON_DIR: dir } });
    expect(res.code).toBe(0);
    const unit = readFileSync(w.unit, "utf8");
    expect(unit).toContain(`--dir "${dir.replace("%", "%%")}"\n`);
    if (!HAS_ANALYZE) return;
    const runtime = join(sb.root, "run");
    mkdirSync(runtime, { mode: 0o700 });
    const verify = spawnSync("systemd-analyze", ["verify", "--user", w.unit], {
      encoding: "utf8",
      env: { ...process.env, XDG_RUNTIME_DIR: runtime },
    });
    expect(verify.stderr).toBe("");
    expect(verify.status).toBe(0);
  });

  it("without systemctl: writes the unit, says what to run by hand, exits 0; uninstall removes it", async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "absent");
    const dry = await sb.run(["daemon", "install", "--dry-run"], { env: w.env });
    const res = await sb.run(["daemon", "install"], { env: w.env });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`wrote ${w.unit}\n`);
    expect(res.stderr).toContain("warning: could not reach systemd (systemctl not found)");
    expect(res.stderr).toContain("systemctl --user daemon-reload");
    expect(res.stderr).toContain("systemctl --user enable --now claudemesh.service");
    expect(readFileSync(w.unit, "utf8")).toBe(dry.stdout);
    // The dir the unit's log lives in is ready, and private.
    expect(statSync(sb.dir).mode & 0o777).toBe(0o700);

    const un = await sb.run(["daemon", "uninstall"], { env: w.env });
    expect(un.code).toBe(0);
    expect(un.stdout).toBe(`removed ${w.unit}\n`);
    expect(un.stderr).toContain("systemctl --user disable --now claudemesh.service");
    expect(existsSync(w.unit)).toBe(false);

    const again = await sb.run(["daemon", "uninstall"], { env: w.env });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`nothing to uninstall: no ${w.unit}\n`);
  });

  it("respects an absolute $XDG_CONFIG_HOME", async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "absent");
    const config = join(sb.root, "cfg");
    const res = await sb.run(["daemon", "install"], { env: { ...w.env, XDG_CONFIG_HOME: config } });
    expect(res.code).toBe(0);
    expect(existsSync(join(config, "systemd", "user", "claudemesh.service"))).toBe(true);
    expect(existsSync(w.unit)).toBe(false);
  });

  it("refuses inside CI without --force (exit 1, naming --force) and writes nothing", async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "absent");
    for (const ci of ["true", "1", "github"]) {
      const res = await sb.run(["daemon", "install"], { env: { ...w.env, CI: ci } });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain("--force");
      expect(res.stdout).toBe("");
      expect(existsSync(w.unit)).toBe(false);
    }
    for (const ci of ["false", "0", ""]) {
      expect((await sb.run(["daemon", "install"], { env: { ...w.env, CI: ci } })).code).toBe(0);
    }
  });

  it("with a unit installed and no systemctl, auto-start warns and starts the daemon itself", async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "absent");
    expect((await sb.run(["daemon", "install"], { env: w.env })).code).toBe(0);
    const res = await sb.run(["sessions", "list"], { env: w.env });
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(
      /warning: claudemesh\.service is installed but systemd could not start it \(systemctl not found\); starting the daemon directly/,
    );
    const pid = sb.lockPid();
    expect(pid).toBeGreaterThan(0);
    expect(await sb.daemonProcesses()).toEqual([pid]);
    const status = JSON.parse((await sb.run(["daemon", "status", "--json"], { env: w.env })).stdout);
    expect(status.managed_by).toBeNull();
  });

  it("a unit for another dir is ignored by auto-start (no warning)", async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "absent");
    const other = join(sb.root, "other");
    expect((await sb.run(["daemon", "install"], { env: { ...w.env, CLAUDEMESH_DAEMON_DIR: other } })).code).toBe(0);
    const res = await sb.run(["sessions", "list"], { env: w.env });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("");
  });

  it("with systemctl: install hands the daemon over (sessions survive), auto-start goes through systemd, uninstall stops it", async (context) => {
    const sb = sandbox(context);
    const w = world(sb, "fake");
    // A daemon started on demand, with a live session.
    const launch = sb.spawn(launchArgs('put pid "$$"\ngate go'), { env: w.env });
    const programPid = Number(await sb.waitForFile("pid"));
    const session = await waitFor(async () => (await sb.sessions()).find((s) => s.pid === programPid), "session");
    const onDemand = sb.lockPid() as number;

    const install = await sb.run(["daemon", "install"], { env: w.env });
    expect(install.stderr).toBe("");
    expect(install.code).toBe(0);
    const managed = sb.lockPid() as number;
    expect(managed).not.toBe(onDemand);
    expect(install.stdout).toBe(
      [
        `wrote ${w.unit}`,
        `daemon stopped (pid ${onDemand})`,
        `daemon running under systemd (pid ${managed}); it starts at login from now on`,
        "",
      ].join("\n"),
    );
    expect(w.calls()).toEqual(["--user daemon-reload", "--user enable --now claudemesh.service"]);
    expect((await sb.sessions()).map(withoutPresence)).toEqual([withoutPresence(session)]);

    const status = await sb.run(["daemon", "status"], { env: w.env });
    expect(status.stdout).toContain("managed by: systemd (claudemesh.service)\n");
    const json = JSON.parse((await sb.run(["daemon", "status", "--json"], { env: w.env })).stdout);
    expect(json).toMatchObject({ running: true, pid: managed, managed_by: "systemd" });

    // Stopped, then needed again: systemd starts it, the CLI spawns nothing of its own.
    expect((await sb.run(["daemon", "stop"], { env: w.env })).code).toBe(0);
    const list = await sb.run(["sessions", "list"], { env: w.env });
    expect(list.code).toBe(0);
    expect(list.stderr).toBe("");
    expect(w.calls().at(-1)).toBe("--user start claudemesh.service");
    const restarted = sb.lockPid() as number;
    expect(await sb.daemonProcesses()).toEqual([restarted]);
    expect(JSON.parse((await sb.run(["daemon", "status", "--json"], { env: w.env })).stdout).managed_by).toBe(
      "systemd",
    );

    sb.touch("go");
    expect((await launch.closed).code).toBe(0);

    const un = await sb.run(["daemon", "uninstall"], { env: w.env });
    expect(un.code).toBe(0);
    expect(un.stderr).toBe("");
    expect(un.stdout).toBe(`removed ${w.unit}\nsystemd no longer runs the daemon; it starts on demand again\n`);
    expect(w.calls().slice(-2)).toEqual(["--user disable --now claudemesh.service", "--user daemon-reload"]);
    expect(existsSync(w.unit)).toBe(false);
    expect(await sb.daemonProcesses()).toEqual([]);
  });
});
