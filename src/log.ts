import { createRequire } from "node:module";
import { pino, type Logger } from "pino";

/** Fields that must never reach a log line, wherever they sit in the logged object. */
export const REDACTED_PATHS = [
  "key", "keyPem", "privateKey", "kek", "secret", "data", "token", "password", "authorization",
  "*.key", "*.keyPem", "*.privateKey", "*.kek", "*.secret", "*.data", "*.token", "*.password",
  "req.headers.authorization", "headers.authorization",
];

export interface LoggerParams {
  /** pino level; default `info`. */
  level?: string;
  /** Pretty output for people; default: when stderr is a TTY. */
  pretty?: boolean;
  /** Where lines go; default stderr (stdout is kept for command output). */
  destination?: NodeJS.WritableStream;
  /** Module of the pretty printer; default `pino-pretty` (a devDependency: absent from the production image). */
  prettyModule?: string;
}

/**
 * Where the pretty printer loads from, or null when it cannot be. pino-pretty is a devDependency: the production image has none, and
 * `docker run -t` (a TTY) must then log JSON instead of failing to start.
 */
export function prettyPrinterPath(module = "pino-pretty"): string | null {
  try {
    return createRequire(import.meta.url).resolve(module);
  } catch {
    return null;
  }
}

/** The one root logger. Components take `logger.child({component})`. Logs go to stderr. */
export function createLogger(params: LoggerParams = {}): Logger {
  const level = params.level ?? "info";
  const redact = { paths: REDACTED_PATHS, censor: "[redacted]" };
  const wantPretty = params.pretty ?? (process.stderr.isTTY === true && params.destination === undefined);
  // No pretty printer installed (the production image): JSON lines, never a crash at start.
  const prettyTarget = wantPretty ? prettyPrinterPath(params.prettyModule) : null;
  if (prettyTarget) {
    return pino({
      level,
      redact,
      transport: { target: prettyTarget, options: { destination: 2, translateTime: "SYS:standard", ignore: "pid,hostname" } },
    });
  }
  return pino({ level, redact }, (params.destination as pino.DestinationStream | undefined) ?? pino.destination(2));
}

export type { Logger };
