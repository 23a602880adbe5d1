import cron from "node-cron";
import { z } from "zod";
import { KEY_ALGORITHMS } from "./key-algorithm.js";
import { parseDuration } from "./duration.js";
import { MIN_LEAF_TTL_SECONDS } from "./leaf-ttl.js";

const duration = z.string().refine(
  (s) => {
    try {
      parseDuration(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: "is not a duration (examples: 90m, 24h, 7d)" },
);

/** A leaf lifetime: a duration held to the one minimum (5m), so no command starts with a lifetime it would refuse. */
const leafDuration = duration.refine(
  (s) => {
    try {
      return parseDuration(s) >= MIN_LEAF_TTL_SECONDS;
    } catch {
      return true; // the duration check above names the problem
    }
  },
  { message: "is shorter than the minimum of 5m" },
);

const keyAlgorithm = z.enum(KEY_ALGORITHMS);

const storeSpec = z
  .string()
  .regex(/^(auto|swarm|file:.+)$/, { message: "must be auto, swarm or file:DIR" });

/**
 * A Docker secret/config name (letters, digits, '.', '_', '-', starting and ending with a letter or digit) that
 * stays within Docker's 64 characters once `suffix` (e.g. `.v<N>`, N up to 9 digits) is added.
 */
const dockerName = (what: string, suffix = "", suffixLength = 0) => {
  const max = 64 - suffixLength;
  return z
    .string()
    .regex(/^[a-zA-Z0-9](?:[a-zA-Z0-9._-]*[a-zA-Z0-9])?$/, { message: `must be a Docker ${what} name (letters, digits, '.', '_', '-'; starting and ending with a letter or digit)` })
    .max(max, { message: `is too long: Docker names are at most 64 characters${suffix ? ` and '${suffix}' is added` : ""}, so at most ${max}` });
};

const listen = z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: "must be HOST:PORT" });

const identityEntry = z
  .object({
    name: z.string().min(1),
    dns: z.array(z.string()).default([]),
    uris: z.array(z.string()).default([]),
    ttl: leafDuration.optional(),
    keyAlgorithm: keyAlgorithm.optional(),
    /** Embedded mode: write an Envoy bootstrap beside the certificates; keys are the `envoy.*` label names without `envoy.` (and `allow`). */
    envoy: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    /** Embedded mode: the identity may stream its working certificate over SDS (needs sds.enabled). */
    sds: z.boolean().optional(),
  })
  .strict();

/** The configuration file's schema. Unknown keys are errors (a typo must not silently become a default). */
export const configSchema = z
  .object({
    store: storeSpec,
    kekFile: z.string(),
    caStateName: dockerName("config", ".v<N>", ".v999999999".length),
    kekSecretName: dockerName("secret"),
    labelPrefix: z.string().regex(/^[a-z0-9][a-z0-9._-]*\.$/, { message: "must be lower-case and end with a dot, like 'mtls.'" }),
    ca: z
      .object({
        trustDomain: z.string().min(1),
        keyAlgorithm,
        rootTtl: duration,
        intermediateTtl: duration,
        maxLeafTtl: leafDuration,
        rotateBefore: z.number().gt(0).lt(1),
      })
      .strict(),
    leaf: z
      .object({
        ttl: leafDuration,
        keyAlgorithm: z.union([keyAlgorithm, z.literal("")]),
        renewBefore: z.number().gt(0).lt(1),
        jitter: z.number().min(0).lt(0.5),
        // Suffixes `mtls.dns` labels may name hosts under, besides the trust domain (`local`, `*.corp.internal`).
        dnsSuffixes: z.array(
          z.string().regex(/^(\*?\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/, {
            message: "is not a DNS suffix (examples: local, *.corp.internal)",
          }),
        ),
      })
      .strict(),
    rotation: z
      .object({
        concurrency: z.number().int().min(1).max(64),
        timeout: duration,
        keepPrevious: z.number().int().min(0).max(10),
        leaseTtl: duration,
        leaseName: dockerName("config"),
        retryBackoff: duration,
        retryBackoffMax: duration,
      })
      .strict(),
    schedule: z
      .object({
        // Checked here, so that every command refuses a bad expression before anything starts (serve used to keep
        // listening without ever reconciling).
        cron: z.string().refine((v) => cron.validate(v), { message: "is not a cron expression (example: '*/5 * * * *')" }),
        maintenanceWindow: z.string().regex(/^$|^\d\d:\d\d-\d\d:\d\d$/, { message: "must be HH:MM-HH:MM or empty" }),
      })
      .strict(),
    api: z
      .object({
        listen,
        tls: z.enum(["auto", "on", "off"]),
        adminTokenFile: z.string(),
        adminIdentities: z.array(z.string()),
        names: z.array(z.string()),
        bodyLimit: z.number().int().min(1024).max(16 * 1024 * 1024),
        rateLimit: z
          .object({
            max: z.number().int().min(0).max(1_000_000),
            window: duration,
          })
          .strict(),
      })
      .strict(),
    serve: z
      .object({
        // How long SIGTERM waits for the running rollout before abandoning it (keep it below stop_grace_period).
        stopGrace: duration,
      })
      .strict(),
    sds: z
      .object({
        // The Secret Discovery Service (hot rotation for Envoy sidecars): off unless enabled.
        enabled: z.boolean(),
        listen,
        workingTtl: duration,
        bootstrapTtl: duration,
        address: z.string().regex(/^$|^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$/, { message: "must be a host name (or empty)" }),
      })
      .strict(),
    log: z.object({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]) }).strict(),
    identities: z.array(identityEntry),
  })
  .strict();

export type ConfigFile = z.infer<typeof configSchema>;
export type IdentityEntry = z.infer<typeof identityEntry>;
