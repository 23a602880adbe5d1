/**
 * The key algorithms swarm-mtls issues with. The config schema validates against this list and the CA implements
 * each entry; it lives in config/ so the ground floor imports nothing from the layers above it.
 */
export const KEY_ALGORITHMS = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
