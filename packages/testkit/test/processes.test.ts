// Against real `sleep` processes: the kit's cleanup is only as good as these primitives.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { Children, descendants, killPid, processGone, procState, waitFor } from "../src/index.js";

const children = new Children();
afterEach(() => children.stopAll());

const linux = process.platform === "linux";

describe("killPid and processGone", () => {
  it("kills a process by pid and sees it gone", async () => {
    const sleeper = children.sleeper();
    const pid = sleeper.pid as number;
    expect(processGone(pid)).toBe(false);
    const exited = once(sleeper, "exit");
    await killPid(pid);
    expect(processGone(pid)).toBe(true);
    expect((await exited)[1]).toBe("SIGKILL");
  });

  it("kills a stopped process", async () => {
    const sleeper = children.sleeper();
    const pid = sleeper.pid as number;
    process.kill(pid, "SIGSTOP");
    if (linux) await waitFor(() => procState(pid) === "T", "the process to stop");
    await killPid(pid);
    expect(processGone(pid)).toBe(true);
  });

  it("returns at once for a pid that is already gone", async () => {
    const sleeper = children.sleeper();
    const pid = sleeper.pid as number;
    const exited = once(sleeper, "exit");
    await killPid(pid);
    await exited; // reaped: the pid no longer exists at all
    await killPid(pid);
    expect(processGone(pid)).toBe(true);
  });

  it("refuses what is not a pid, rather than signal a process group", async () => {
    await expect(killPid(0)).rejects.toThrow("not a pid");
    await expect(killPid(-1)).rejects.toThrow("not a pid");
    await expect(killPid(undefined as unknown as number)).rejects.toThrow("not a pid");
  });

  it.skipIf(!linux)("counts a zombie as gone", async () => {
    // sh starts `sleep 0.1` in the background, then becomes `sleep 300`, which never reaps it.
    const parent = children.track(
      spawn("sh", ["-c", "sleep 0.1 & echo $!; exec sleep 300"], { stdio: ["ignore", "pipe", "ignore"] }),
    );
    const [line] = (await once(parent.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
    const pid = Number(line.toString().trim());
    await waitFor(() => procState(pid) === "Z", "the child to become a zombie");
    expect(() => process.kill(pid, 0)).not.toThrow(); // still signalable, yet gone for every purpose
    expect(processGone(pid)).toBe(true);
    await killPid(pid); // and killing it does not wait for a reaping that never comes
  });
});

describe("Children", () => {
  it("stops every tracked child with its descendants", async () => {
    const parent = children.track(spawn("sh", ["-c", "sleep 300 & sleep 300 & wait"], { stdio: "ignore" }));
    const sleeper = children.sleeper();
    const below = await waitFor(async () => {
      const pids = await descendants(parent.pid as number);
      return pids.length === 2 && pids;
    }, "the two background sleeps");
    await children.stopAll();
    for (const pid of [parent.pid as number, sleeper.pid as number, ...below]) expect(processGone(pid)).toBe(true);
    expect(parent.exitCode !== null || parent.signalCode !== null).toBe(true); // exited and reaped
  });

  it("has nothing to do once every child has exited", async () => {
    const done = children.track(spawn("true", [], { stdio: "ignore" }));
    await once(done, "exit");
    await children.stopAll();
  });
});
