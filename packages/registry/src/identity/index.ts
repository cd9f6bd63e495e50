import { LinuxProcProbe } from "./linux-proc-probe.js";
import type { ProcessProbe } from "./probe.js";
import { PsProbe } from "./ps-probe.js";

export * from "./linux-proc-probe.js";
export * from "./probe.js";
export * from "./proc-stat.js";
export * from "./ps-output.js";
export * from "./ps-probe.js";

/** The probe for this platform: /proc on Linux, a batched ps elsewhere. */
export function createProcessProbe(platform: NodeJS.Platform = process.platform): ProcessProbe {
  return platform === "linux" ? new LinuxProcProbe() : new PsProbe();
}
