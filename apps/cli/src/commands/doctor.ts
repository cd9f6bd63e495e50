// `claudemesh doctor [--json] [--fix]`: what is wrong with this user's daemon setup, and how to
// fix it. `--fix` runs only the repairs that are safe unattended, then checks again.
import { createProcessProbe } from "@claudemesh/registry";
import { claudemeshServer } from "../claude-code.js";
import { type CliContext, warn } from "../context.js";
import { type Check, type DoctorInput, runChecks } from "../doctor/checks.js";
import { renderJson, renderTerminal, renderTsv } from "../doctor/render.js";
import { NotFixed } from "../doctor/stale.js";
import { EXIT } from "../exit-codes.js";
import { ownLockOwner } from "../lock-state.js";
import { CLI_VERSION } from "../version.js";

function doctorInput(ctx: CliContext): DoctorInput {
  const probe = createProcessProbe();
  return {
    paths: ctx.paths,
    env: ctx.env,
    home: ctx.home,
    cwd: ctx.cwd,
    mcpServer: claudemeshServer(),
    uid: process.getuid?.() ?? 0,
    platform: process.platform,
    cliVersion: CLI_VERSION,
    execPath: process.execPath,
    probe,
    self: () => ownLockOwner(probe),
  };
}

/** Runs every repair on offer; true when at least one changed something. */
async function repair(ctx: CliContext, checks: readonly Check[]): Promise<boolean> {
  let changed = false;
  for (const check of checks) {
    if (check.status === "ok" || check.repair === undefined) continue;
    try {
      warn(ctx, `fixed ${check.name}: ${await check.repair()}`);
      changed = true;
    } catch (error) {
      if (!(error instanceof NotFixed)) throw error;
      warn(ctx, `not fixed ${check.name}: ${error.message}`);
    }
  }
  return changed;
}

export async function doctorCommand(ctx: CliContext, options: { json?: boolean; fix?: boolean }): Promise<number> {
  const input = doctorInput(ctx);
  let checks = await runChecks(input);
  if (options.fix && (await repair(ctx, checks))) checks = await runChecks(input);
  if (options.json) ctx.stdout.write(renderJson(checks));
  else if (ctx.stdout.isTTY) ctx.stdout.write(renderTerminal(checks, ctx.color));
  else ctx.stdout.write(renderTsv(checks));
  return checks.some((c) => c.status === "fail") ? EXIT.failure : EXIT.ok;
}
