import { z } from "zod";
import { KEY_ALGORITHMS } from "../ca/types.js";
import { parseDuration } from "./duration.js";

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

const keyAlgorithm = z.enum(KEY_ALGORITHMS);

const storeSpec = z
  .string()
  .regex(/^(auto|swarm|file:.+)$/, { message: "must be auto, swarm or file:DIR" });

const listen = z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: "must be HOST:PORT" });

const identityEntry = z
  .object({
    name: z.string().min(1),
    dns: z.array(z.string()).default([]),
    uris: z.array(z.string()).default([]),
    ttl: duration.optional(),
    keyAlgorithm: keyAlgorithm.optional(),
  })
  .strict();

/** The configuration file's schema. Unknown keys are errors (a typo must not silently become a default). */
export const configSchema = z
  .object({
    store: storeSpec,
    kekFile: z.string(),
    caStateName: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,50}$/, { message: "must be a Docker config name of at most 51 characters" }),
    kekSecretName: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, { message: "must be a Docker secret name" }),
    labelPrefix: z.string().regex(/^[a-z0-9][a-z0-9._-]*\.$/, { message: "must be lower-case and end with a dot, like 'mtls.'" }),
    ca: z
      .object({
        trustDomain: z.string().min(1),
        keyAlgorithm,
        rootTtl: duration,
        intermediateTtl: duration,
        maxLeafTtl: duration,
        rotateBefore: z.number().gt(0).lt(1),
      })
      .strict(),
    leaf: z
      .object({
        ttl: duration,
        keyAlgorithm: z.union([keyAlgorithm, z.literal("")]),
        renewBefore: z.number().gt(0).lt(1),
        jitter: z.number().min(0).lt(0.5),
      })
      .strict(),
    rotation: z
      .object({
        concurrency: z.number().int().min(1).max(64),
        timeout: duration,
        keepPrevious: z.number().int().min(0).max(10),
        leaseTtl: duration,
        leaseName: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, { message: "must be a Docker config name" }),
      })
      .strict(),
    schedule: z
      .object({
        cron: z.string().min(1),
        maintenanceWindow: z.string().regex(/^$|^\d\d:\d\d-\d\d:\d\d$/, { message: "must be HH:MM-HH:MM or empty" }),
      })
      .strict(),
    api: z
      .object({
        listen,
        tls: z.enum(["auto", "on", "off"]),
        adminTokenFile: z.string(),
        adminIdentities: z.array(z.string()),
        bodyLimit: z.number().int().min(1024).max(16 * 1024 * 1024),
      })
      .strict(),
    log: z.object({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]) }).strict(),
    identities: z.array(identityEntry),
  })
  .strict();

export type ConfigFile = z.infer<typeof configSchema>;
export type IdentityEntry = z.infer<typeof identityEntry>;
