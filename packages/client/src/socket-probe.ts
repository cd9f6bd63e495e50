// What a connect to the daemon's socket path proves. Shared by the daemon (before removing a
// stale socket) and the CLI's doctor: only ECONNREFUSED proves that nobody listens on an existing
// socket file; a timeout means busy, never dead (field note 4).
import { connect } from "node:net";

export type SocketState = "listening" | "refused" | "missing" | "busy";

export function probeSocket(path: string, timeoutMs = 1_000): Promise<SocketState> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (state: SocketState) => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(timeoutMs, () => done("busy"));
    socket.once("connect", () => done("listening"));
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") done("missing");
      else if (error.code === "ECONNREFUSED") done("refused");
      else done("busy");
    });
  });
}
