/**
 * Embedded mode of `serve`: identities from the config, certificates in generation directories of the file store
 * (DIR/certs/<identity>/). Gathers through `gatherEmbeddedFleet`, acts through `rotateEmbedded`; no lease (one
 * process owns the directory) and no automatic CA rotation.
 */
import { caRotationStatus } from "./ca-rotation.js";
import { readCaRotationRecord } from "./ca-rotation-record.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load-config.js";
import { MtlsError } from "../errors.js";
import type { Logger } from "../log.js";
import { readEnvoyYaml } from "../store/embedded-files.js";
import { embeddedWant, gatherEmbeddedFleet, identityDir, type EmbeddedEntry } from "./embedded-fleet.js";
import { rotateEmbedded } from "./embedded-rotate.js";
import type { RotationObserver } from "./rollout.js";
import type { ServingMode } from "./serving-mode.js";
import { statusRow } from "./status-rows.js";

export interface EmbeddedModeParams {
  /** The file store's directory. */
  dataDir: string;
  config: Config;
  logger: Logger;
  observer: RotationObserver;
  now: Clock;
}

/** A configured identity's status row source. Pure. */
const rowSource = (e: EmbeddedEntry) => ({ service: e.identity, identity: e.identity, attached: e.current || null, generations: e.generations, ...(e.verdict ? { verdict: e.verdict } : {}), ...(e.error ? { error: e.error } : {}) });

export function embeddedMode(p: EmbeddedModeParams): ServingMode {
  return {
    name: "embedded",
    unknownIdentity: "it is not listed under `identities` in the config",
    async rows(a) {
      const now = p.now();
      const fleet = await gatherEmbeddedFleet({ dataDir: p.dataDir, authority: a, config: p.config, now, force: false });
      return fleet.entries.map((e) => statusRow(rowSource(e), p.config, now));
    },
    async rotate(a, r) {
      const deps = { dataDir: p.dataDir, authority: a, config: p.config, logger: p.logger, observer: p.observer, now: p.now };
      const identities = r.identities ?? r.services;
      return (await rotateEmbedded(deps, { ...(identities ? { identities } : {}), force: r.force, dryRun: r.dryRun, trigger: r.trigger })).outcomes;
    },
    async allowedIdentity(a, identity) {
      const id = p.config.identities.find((x) => x.name === identity);
      if (!id) return undefined;
      const want = embeddedWant(id, a, p.config, identityDir(p.dataDir, id.name));
      return { identity, dnsNames: want.dnsNames, uris: want.uris, ttlSeconds: want.ttlSeconds };
    },
    async envoyBootstrap(_a, identity) {
      const id = p.config.identities.find((x) => x.name === identity);
      if (!id) throw new MtlsError("not-found", `no configured identity '${identity}' (identities: in the config)`);
      if (!id.envoy) throw new MtlsError("not-found", `identity ${identity} has no Envoy sidecar (give it an envoy: block in the config)`);
      const yaml = await readEnvoyYaml(identityDir(p.dataDir, identity));
      if (yaml === null) throw new MtlsError("not-found", `the Envoy bootstrap of ${identity} is not written yet (it is written with its certificate)`);
      return yaml;
    },
    caRotation: async (a) => caRotationStatus(a, readCaRotationRecord(a)),
    advanceCaRotation: async () => false,
    ping: async () => undefined,
  };
}
