import { defineConfig } from "vitest/config";

// Scenarios start real daemons and hundreds of processes: one file at a time keeps the 2-core
// machine from turning timing slack into false failures.
export default defineConfig({
  test: {
    include: ["scenarios/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
