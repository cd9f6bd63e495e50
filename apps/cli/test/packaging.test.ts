// `claudemesh` installs as one npm package: pack it, install the tarball into a temp prefix
// (offline: it must need nothing else), then run it as a user would.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const cliDir = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "cm-pack-"));

function stopDaemon(dir: string): void {
  try {
    const { pid } = JSON.parse(readFileSync(join(dir, "daemon.lock"), "utf8")) as { pid: number };
    process.kill(pid, "SIGKILL");
  } catch {
    // no daemon was started
  }
}

afterAll(() => {
  stopDaemon(join(work, "d"));
  rmSync(work, { recursive: true, force: true });
});

describe("the npm package", () => {
  it("packs only dist and package.json, installs offline, and runs --version and a launch", () => {
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: cliDir, encoding: "utf8" }),
    ) as [{ filename: string; files: { path: string }[] }];
    const files = packed[0].files.map((f) => f.path);
    expect(files).toContain("dist/cli.js");
    expect(files).toContain("dist/daemon.js");
    expect(files).toContain("dist/hook.cjs");
    expect(files.every((f) => f.startsWith("dist/") || f === "package.json" || f === "README.md")).toBe(true);

    const prefix = join(work, "prefix");
    execFileSync(
      "npm",
      [
        "install",
        "--global",
        "--prefix",
        prefix,
        "--offline",
        "--no-audit",
        "--no-fund",
        join(work, packed[0].filename),
      ],
      { encoding: "utf8" },
    );
    const bin = join(prefix, "bin", "claudemesh");
    const installed = readdirSync(join(prefix, "lib", "node_modules", "claudemesh"));
    expect(installed).not.toContain("node_modules"); // everything it needs is bundled

    expect(execFileSync(bin, ["--version"], { encoding: "utf8" })).toMatch(/^claudemesh \d+\.\d+\.\d+\n$/);
    const env = { ...process.env, CLAUDEMESH_DAEMON_DIR: join(work, "d") };
    const launched = spawnSync(bin, ["launch", "--name", "packed", "--", "sh", "-c", `"${bin}" sessions list`], {
      env,
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(launched.stderr).toBe("");
    expect(launched.status).toBe(0);
    expect(launched.stdout).toMatch(/\tpacked\tdefault\t\d+\t\d+s\t/);
  });
});
