/** The CA core: names, keys, authority, leaves, CSR signing, sealed CA state. No Docker, no file I/O. */
export * from "./types.js";
export {
  validateIdentity,
  validateDnsName,
  validateTrustDomain,
  validateSpiffeId,
  validateUri,
  spiffeIdFor,
  adminSpiffeId,
  isAdminSpiffeId,
  validateIpAddress,
  parseKeyAlgorithm,
  type SpiffeIdForParams,
} from "./names.js";
export { parseKek, generateKekText, KEK_BYTES } from "./kek.js";
export {
  createAuthority,
  describeAuthority,
  bundlePem,
  caKeyPairFrom,
  caKeyAlgorithm,
  certFingerprint,
  DEFAULT_CA_NAME,
  DEFAULT_KEY_ALGORITHM,
  DEFAULT_ROOT_TTL_SECONDS,
  DEFAULT_INTERMEDIATE_TTL_SECONDS,
  DEFAULT_MAX_LEAF_TTL_SECONDS,
  type AuthorityCreateResult,
} from "./authority.js";
export {
  issueLeaf,
  issueLeafSync,
  planLeaf,
  encodeLeaf,
  leafVerifies,
  DEFAULT_LEAF_TTL_SECONDS,
  DEFAULT_SKEW_SECONDS,
  type LeafPlan,
} from "./leaf.js";
export { issueLeafReference, type LeafReferenceIssueParams } from "./leaf-reference.js";
export { signCsr } from "./sign-csr.js";
export {
  sealAuthority,
  openAuthority,
  readPublicAuthority,
  authenticateCaStateDocument,
  caStateVersion,
  sealCaEntry,
  openCaEntry,
  CA_STATE_FORMAT,
  CA_STATE_VERSION,
  LEGACY_CA_STATE_VERSION,
  type AuthorityOpenParams,
  type CaStateDocument,
  type SealedCaEntry,
  type SealedKey,
} from "./ca-state.js";
export {
  createRootCa,
  createIntermediateCa,
  crossSignRoot,
  type CaSuccessorCreateParams,
  type RootCaCreateParams,
  type RootCrossSignParams,
} from "./ca-successor.js";
export { fingerprint } from "./fingerprint.js";
export { KEY_ALGORITHM_PROFILES, keyAlgorithmOfKey, generateLeafKey, generateLeafKeySync, type LeafKey } from "./keys.js";
export { randomSerial } from "./serial.js";
