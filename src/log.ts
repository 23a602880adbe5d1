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
}

/** The one root logger. Components take `logger.child({component})`. Logs go to stderr. */
export function createLogger(params: LoggerParams = {}): Logger {
  const level = params.level ?? "info";
  const redact = { paths: REDACTED_PATHS, censor: "[redacted]" };
  const pretty = params.pretty ?? (process.stderr.isTTY === true && params.destination === undefined);
  if (pretty) {
    return pino({
      level,
      redact,
      transport: { target: "pino-pretty", options: { destination: 2, translateTime: "SYS:standard", ignore: "pid,hostname" } },
    });
  }
  return pino({ level, redact }, (params.destination as pino.DestinationStream | undefined) ?? pino.destination(2));
}

export type { Logger };
