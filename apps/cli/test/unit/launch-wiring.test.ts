import { describe, expect, it } from "vitest";
import { FAST_MESSAGE_MODES } from "../../src/fast-path.js";
import {
  hookSettings,
  MESSAGE_MODES,
  mcpConfig,
  sessionIdFromClaudeArgs,
  startsClaudeSession,
  type WiringInput,
  wireClaude,
} from "../../src/launch-wiring.js";
import { shellCommand } from "../../src/self-command.js";

const ID = "0193e2c1-4b5a-4c00-8a3e-1f2b3c4d5e6f";
const OTHER = "11111111-2222-4333-8444-555555555555";

function input(argv: string[], more: Partial<WiringInput> = {}): WiringInput {
  return {
    argv,
    mode: "push",
    askPermission: false,
    sessionId: ID,
    node: "/opt/node/bin/node",
    cli: "/home/u/claudemesh/dist/cli.js",
    serverEnv: { CLAUDEMESH_IPC_TOKEN_FILE: "/tmp/t/token", CLAUDEMESH_MESSAGE_MODE: "push" },
    ...more,
  };
}

const added = (argv: string[]) => argv.filter((a) => a.startsWith("--") && a.includes("="));
const names = (argv: string[]) => added(argv).map((a) => a.slice(0, a.indexOf("=")));

describe("wireClaude", () => {
  it("push: MCP server, hooks, session id, channel and pre-allowed tools, before the user's arguments", () => {
    const { argv, warnings } = wireClaude(input(["claude", "fix the flaky test"]));
    expect(warnings).toEqual([]);
    expect(argv[0]).toBe("claude");
    expect(argv.at(-1)).toBe("fix the flaky test");
    expect(names(argv)).toEqual([
      "--mcp-config",
      "--settings",
      "--session-id",
      "--dangerously-load-development-channels",
      "--allowedTools",
    ]);
    expect(argv).toContain(`--session-id=${ID}`);
    expect(argv).toContain("--dangerously-load-development-channels=server:claudemesh");
    expect(argv).toContain("--allowedTools=mcp__claudemesh");
  });

  it("the MCP config runs this CLI by absolute paths, with the session's environment", () => {
    const config = JSON.parse(mcpConfig(input([]))) as {
      mcpServers: Record<string, { type: string; command: string; args: string[]; env: Record<string, string> }>;
    };
    expect(config.mcpServers.claudemesh).toEqual({
      type: "stdio",
      command: "/opt/node/bin/node",
      args: ["/home/u/claudemesh/dist/cli.js", "mcp"],
      env: { CLAUDEMESH_IPC_TOKEN_FILE: "/tmp/t/token", CLAUDEMESH_MESSAGE_MODE: "push" },
    });
  });

  it("hooks: one command per event, quoted for the shell, with a timeout in seconds", () => {
    const settings = JSON.parse(hookSettings(input([], { cli: "/home/u/my dir/cli.js" }))) as {
      hooks: Record<string, { hooks: { type: string; command: string; timeout: number }[] }[]>;
    };
    expect(Object.keys(settings.hooks)).toEqual(["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"]);
    expect(settings.hooks.Stop?.[0]?.hooks[0]).toEqual({
      type: "command",
      command: "/opt/node/bin/node '/home/u/my dir/hook.cjs' Stop",
      timeout: 10,
    });
  });

  it("pull: tools and hooks, no channel", () => {
    const { argv } = wireClaude(input(["claude"], { mode: "pull" }));
    expect(names(argv)).toEqual(["--mcp-config", "--settings", "--session-id", "--allowedTools"]);
  });

  it("off: the command line as it is", () => {
    expect(wireClaude(input(["claude", "-p", "hi"], { mode: "off" })).argv).toEqual(["claude", "-p", "hi"]);
  });

  it("--ask-permission leaves the tools to claude's permission prompts", () => {
    expect(names(wireClaude(input(["claude"], { askPermission: true })).argv)).not.toContain("--allowedTools");
  });

  it.for([
    ["--session-id", OTHER],
    [`--session-id=${OTHER}`],
    ["--resume", OTHER],
    ["-r", OTHER],
    ["--resume"],
    ["--continue"],
    ["-c"],
  ])("the user's own %s wins: no --session-id of ours", (own) => {
    const { argv } = wireClaude(input(["claude", ...own]));
    const ours = argv.slice(1, argv.length - own.length);
    expect(names(ours)).not.toContain("--session-id");
    expect(names(ours)).toContain("--mcp-config");
    expect(argv.slice(-own.length)).toEqual(own);
  });

  it("the user's own --mcp-config wins, with a warning that says how to add ours", () => {
    const { argv, warnings } = wireClaude(input(["claude", "--mcp-config", "mine.json"]));
    expect(names(argv)).not.toContain("--mcp-config");
    expect(argv.slice(-2)).toEqual(["--mcp-config", "mine.json"]);
    expect(warnings.join("\n")).toMatch(/claudemesh install/);
  });

  it("the user's own channel flag is not said twice", () => {
    const { argv } = wireClaude(input(["claude", "--dangerously-load-development-channels", "server:x"]));
    expect(argv.filter((a) => a.startsWith("--dangerously-load-development-channels"))).toHaveLength(1);
  });

  it("the user's own --settings comes last (it wins), with a warning", () => {
    const { argv, warnings } = wireClaude(input(["claude", "--settings", "s.json"]));
    expect(argv.slice(-2)).toEqual(["--settings", "s.json"]);
    expect(warnings.join("\n")).toMatch(/--settings/);
  });

  it("a session id that is not a UUID is not handed to claude (it requires one)", () => {
    expect(names(wireClaude(input(["claude"], { sessionId: "api-1" })).argv)).not.toContain("--session-id");
  });

  it.for([["claude", "mcp", "list"], ["claude", "doctor"], ["claude", "update"], ["node", "x.js"], ["claude-x"]])(
    "%s is not a claude session: untouched",
    (argv) => {
      expect(wireClaude(input(argv)).argv).toEqual(argv);
    },
  );

  it("claude by any path is claude", () => {
    expect(startsClaudeSession(["/usr/local/bin/claude"])).toBe(true);
    expect(startsClaudeSession(["claude", "--continue"])).toBe(true);
    expect(startsClaudeSession(["claude", "what does this repo do?"])).toBe(true);
  });
});

describe("message modes", () => {
  it("the fast path knows the same modes as launch", () => {
    expect(FAST_MESSAGE_MODES).toEqual(MESSAGE_MODES);
  });
});

describe("sessionIdFromClaudeArgs", () => {
  it("takes the user's --session-id or resumed UUID as the session's own id", () => {
    expect(sessionIdFromClaudeArgs(["--session-id", OTHER])).toBe(OTHER);
    expect(sessionIdFromClaudeArgs([`--resume=${OTHER}`])).toBe(OTHER);
    expect(sessionIdFromClaudeArgs(["-r", OTHER.toUpperCase()])).toBe(OTHER);
  });

  it("a fork, a picker, a name or --continue fix no id", () => {
    expect(sessionIdFromClaudeArgs(["--resume", OTHER, "--fork-session"])).toBeUndefined();
    expect(sessionIdFromClaudeArgs(["--resume"])).toBeUndefined();
    expect(sessionIdFromClaudeArgs(["--resume", "my-feature"])).toBeUndefined();
    expect(sessionIdFromClaudeArgs(["--continue"])).toBeUndefined();
    expect(sessionIdFromClaudeArgs(["--", "--resume", OTHER])).toBeUndefined();
  });
});

describe("shellCommand", () => {
  it("quotes what the shell would split or expand, and nothing else", () => {
    expect(shellCommand(["/usr/bin/node", "/a b/cli.js", "it's", "$HOME", "hook"])).toBe(
      `/usr/bin/node '/a b/cli.js' 'it'\\''s' '$HOME' hook`,
    );
  });
});
