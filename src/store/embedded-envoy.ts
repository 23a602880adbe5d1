/**
 * Embedded mode's Envoy sidecars: a configured identity with an `envoy` block gets `envoy.yaml` beside its
 * certificates. The block takes the `mtls.envoy.*` label names without `envoy.` (`mode`, `listen`, `app`,
 * `upstreams`, `tls-min`, …) plus `allow` and `target.cert|key|ca`; the files default to the identity's certificate
 * directory, and upstream names are used as host names as they are (there is no `tasks.<name>` outside Swarm).
 */
import { join, resolve } from "node:path";
import type { IdentityEntry } from "../config/schema.js";
import { ENVOY_LABELS, parseEnvoyLabels, renderEnvoyBootstrapYaml, validateEnvoyConfig, renderEnvoyBootstrap, type EnvoySidecarSettings } from "../envoy/index.js";
import { badInput, isMtlsError } from "../errors.js";

const PREFIX = "mtls.";

/** Keys an identity's `envoy` block accepts. */
export const EMBEDDED_ENVOY_KEYS: readonly string[] = ENVOY_LABELS.filter((l) => l.name !== "envoy" && l.name !== "envoy.target").map((l) => l.name.replace(/^envoy\./, ""));

/** The sidecar settings of a configured identity, or null without an `envoy` block. Throws bad-input naming the key. Pure. */
export function embeddedEnvoySettings(
  id: IdentityEntry,
  ctx: { trustDomain: string; certDir: string; /** The SPIFFE ID an `allow` or upstream name stands for (outside stacks). */ spiffeIdOf: (name: string) => string },
): EnvoySidecarSettings | null {
  if (id.envoy === undefined) return null;
  const where = `identities.${id.name}.envoy`;
  const labels: Record<string, string> = { [`${PREFIX}envoy`]: "true" };
  for (const [k, v] of Object.entries(id.envoy)) {
    if (!EMBEDDED_ENVOY_KEYS.includes(k)) throw badInput(`config ${where}: unknown key '${k}' (known: ${EMBEDDED_ENVOY_KEYS.join(", ")})`);
    const name = k === "allow" || k.startsWith("target.") ? k : `envoy.${k}`;
    labels[`${PREFIX}${name}`] = String(v);
  }
  const dir = resolve(ctx.certDir);
  for (const f of ["cert", "key", "ca"] as const) {
    labels[`${PREFIX}target.${f}`] ??= join(dir, f === "cert" ? "tls.crt" : f === "key" ? "tls.key" : "ca.crt");
  }
  let settings: EnvoySidecarSettings | null;
  try {
    settings = parseEnvoyLabels(labels, {
      prefix: PREFIX,
      identity: id.name,
      trustDomain: ctx.trustDomain,
      serviceName: id.name,
      spiffeIdOf: ctx.spiffeIdOf,
    });
  } catch (e) {
    if (isMtlsError(e, "bad-input")) throw badInput(`config ${where}: ${e.message.replace(/label mtls\.(envoy\.)?/g, "")}`, e);
    throw e;
  }
  if (!settings) return null;
  return { ...settings, upstreams: settings.upstreams.map((u) => ({ ...u, address: u.name })), target: join(dir, "envoy.yaml") };
}

/** Renders and validates (Envoy's protos + lint) the bootstrap; throws bad-input naming the first error. */
export function embeddedEnvoyYaml(settings: EnvoySidecarSettings, where: string): string {
  const result = validateEnvoyConfig(renderEnvoyBootstrap(settings));
  const first = result.errors[0];
  if (first) throw badInput(`config ${where}: the Envoy bootstrap would be invalid: ${first.path}: ${first.message}`);
  return renderEnvoyBootstrapYaml(settings);
}
