/**
 * What a service whose rollout always fails costs the swarm while the real `serve` keeps it (the built CLI as a child
 * process, the sandbox CA, a label prefix and lease of the run's own): a busybox service that exits 3 as soon as a
 * certificate is mounted, watched for a fixed window while serve reconciles on a short schedule and on the rollback's
 * own Docker events. Counted from serve's log: reconciles, certificates issued, rollouts that failed (each one a
 * service update, new tasks that crash, and a rollback) and reconciles that held the service back.
 * Baseline in the same run: `rotation.retryBackoff: 1s` (about no backoff: every reconcile more than a second after
 * the last failure retries, as every reconcile did before), against the default backoff (1m, doubling to 30m).
 *
 * Run: npm run bench:backoff   (options: --seconds N (window per variant, default 120), --every S (schedule, default 10))
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { sandboxCa } from "../sandbox-ca.js";
import { REPO } from "./bench-fleet.js";
import { loadAverage, positiveInt, printTable, runMain } from "./bench-kit.js";
import { startServeChild, type ServeChild } from "./serve-child.js";

const IMAGE = "swarm-mtls/busybox:test";
const REFUSING = "if [ -e /run/secrets/tls.crt ]; then echo 'certificate rejected' >&2; exit 3; fi; exec sleep 3600";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function docker(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile("docker", args, { maxBuffer: 16 << 20 }, (e, out, err) => (e ? reject(new Error(`docker ${args[0]} ${args[1]}: ${err || e.message}`)) : resolve(out))));
}

interface Figures {
  variant: string;
  reconciles: number;
  issued: number;
  failedRollouts: number;
  heldBack: number;
}

/** Removes the run's service, then the secrets of its identity (retried while its tasks go), then its lease. */
async function cleanup(name: string, lease: string): Promise<void> {
  await docker("service", "rm", name).catch(() => undefined);
  for (let i = 0; i < 60; i++) {
    const ids = (await docker("secret", "ls", "-q", "--filter", `label=io.swarm-mtls.identity=${name}`).catch(() => "")).split("\n").filter(Boolean);
    const left = (await Promise.all(ids.map((id) => docker("secret", "rm", id).then(() => 0, () => 1)))).reduce((a: number, b) => a + b, 0);
    if (left === 0) break;
    await sleep(1000);
  }
  await docker("config", "rm", lease).catch(() => undefined);
}

async function runVariant(variant: string, backoff: { first: string; max: string }, windowMs: number, everySeconds: number): Promise<Figures> {
  const tag = randomBytes(3).toString("hex");
  const name = `bench-backoff-${tag}`;
  const prefix = `b${tag}.`;
  const lease = `mtls.lock.backoff-${tag}`;
  let serve: ServeChild | undefined;
  const stop = () => void cleanup(name, lease).finally(() => process.exit(130));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    serve = await startServeChild(
      {
        repo: REPO,
        env: {
          ...process.env,
          ...sandboxCa(REPO).env,
          SWARM_MTLS_LABEL_PREFIX: prefix,
          SWARM_MTLS_ROTATION_LEASE_NAME: lease,
          SWARM_MTLS_SCHEDULE_CRON: `*/${everySeconds} * * * * *`,
          SWARM_MTLS_ROTATION_RETRY_BACKOFF: backoff.first,
          SWARM_MTLS_ROTATION_RETRY_BACKOFF_MAX: backoff.max,
          SWARM_MTLS_LOG_LEVEL: "info",
        },
      },
      120_000,
    );
    const s = serve;
    await docker("service", "create", "-d", "--name", name, "--label", `${prefix}enable=true`, "--stop-grace-period", "1s", "--update-delay", "0s", "--update-monitor", "1s", "--restart-delay", "1s", IMAGE, "sh", "-c", REFUSING);
    const from = s.lines.length;
    console.error(`${variant}: watching ${name} for ${windowMs / 1000}s (load average ${loadAverage()})`);
    await sleep(windowMs);
    const lines = s.lines.slice(from);
    return {
      variant,
      reconciles: lines.filter((l) => l.msg === "reconcile done").length,
      issued: lines.filter((l) => l.msg === "certificate issued").length,
      failedRollouts: lines.filter((l) => l.msg === "rollout failed; rolling back").length,
      heldBack: lines.filter((l) => l.msg === "service not reconciled" && String(l.error ?? "").startsWith("held back:")).length,
    };
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await serve?.stop(30_000);
    await cleanup(name, lease);
  }
}

runMain("bench:backoff", async () => {
  const windowMs = positiveInt("--seconds", 120, 3600) * 1000;
  const every = positiveInt("--every", 10, 59);
  const figures = [
    await runVariant("retryBackoff 1s (baseline, about no backoff)", { first: "1s", max: "1s" }, windowMs, every),
    await runVariant("retryBackoff 1m, max 30m (default)", { first: "1m", max: "30m" }, windowMs, every),
  ];
  console.log(`one service that rejects every certificate, ${windowMs / 1000}s per variant, schedule every ${every}s, load average ${loadAverage()}`);
  printTable(
    ["variant", "reconciles", "certificates issued", "failed rollouts", "held back"],
    figures.map((f) => [f.variant, String(f.reconciles), String(f.issued), String(f.failedRollouts), String(f.heldBack)]),
  );
});
