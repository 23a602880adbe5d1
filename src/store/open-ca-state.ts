import { caStateVersion, describeAuthority, LEGACY_CA_STATE_VERSION, openAuthority, sealAuthority, type Authority } from "../ca/index.js";
import { badInput } from "../errors.js";
import type { Logger } from "../log.js";
import type { CaStore } from "./ca-store.js";

/**
 * Opens the store's CA state with the KEK; null when the store holds none. A state in the unauthenticated format of
 * earlier versions (version 1) is migrated: opened once, re-sealed with the document MAC and written back, so every
 * later open verifies it. A version 1 state is refused once the store has held an authenticated one (a downgrade:
 * someone wrote the old format to get around the MAC).
 */
export async function openStoredAuthority(store: CaStore, kek: Uint8Array, logger: Logger): Promise<Authority | null> {
  const doc = await store.readCaState();
  if (doc === null) return null;
  if (caStateVersion(doc) !== LEGACY_CA_STATE_VERSION) return openAuthority(doc, kek);
  const older = store.olderCaStates ? await store.olderCaStates() : [];
  if (older.some((d) => (caStateVersion(d) ?? 0) > LEGACY_CA_STATE_VERSION)) {
    throw badInput(
      `the newest CA state in ${store.location} is in the unauthenticated format of earlier versions, but an authenticated one was written before it: refusing it (restore a backup, or remove that version)`,
    );
  }
  const authority = await openAuthority(doc, kek, { migrateLegacy: true });
  try {
    await store.writeCaState(sealAuthority(authority, kek), { replace: true });
  } catch (e) {
    // Two processes migrating at once: the other one's write won; open what it wrote (it must verify).
    const now = await store.readCaState();
    if (now === null || caStateVersion(now) === LEGACY_CA_STATE_VERSION) throw e;
    return openAuthority(now, kek);
  }
  logger.child({ component: "audit" }).warn(
    { store: store.location, trustDomain: authority.trustDomain, fingerprints: describeAuthority(authority).map((c) => c.fingerprint) },
    "CA state migrated to the authenticated format: check that these certificates are yours",
  );
  return authority;
}
