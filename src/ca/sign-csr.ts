/**
 * CSR signing: the request only proves possession of a key. Its public key is taken; its subject and requested
 * extensions are ignored, the names come from the caller (who authorised them), the profile is ours.
 */
import { badInput } from "../errors.js";
import { describeKey, keyAlgorithmOfSpki } from "./keys.js";
import { issueLeafForPublicKey, planLeaf } from "./leaf.js";
import type { Authority, CsrSignParams, IssuedLeaf } from "./types.js";
import { KEY_ALGORITHMS } from "./types.js";
import { x509 } from "./x509.js";
import { createPublicKey } from "node:crypto";

/** Verifies a PEM CSR's signature and issues a leaf for its public key with the names given in the params. */
export async function signCsr(a: Authority, p: CsrSignParams): Promise<IssuedLeaf> {
  if (typeof p.csrPem !== "string" || !/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(p.csrPem)) {
    throw badInput("the CSR is not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)");
  }
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  try {
    const body = p.csrPem.replace(/-----(BEGIN|END) NEW CERTIFICATE REQUEST-----/g, "-----$1 CERTIFICATE REQUEST-----");
    csr = new x509.Pkcs10CertificateRequest(body);
  } catch (e) {
    throw badInput("the CSR could not be parsed as PKCS#10", e);
  }
  const spkiDer = Buffer.from(csr.publicKey.rawData);
  let keyAlgorithm;
  try {
    const key = createPublicKey({ key: spkiDer, format: "der", type: "spki" });
    keyAlgorithm = keyAlgorithmOfSpki(spkiDer);
    if (keyAlgorithm === undefined) {
      throw badInput(`the CSR's key is ${describeKey(key)}; expected one of ${KEY_ALGORITHMS.join(", ")}`);
    }
  } catch (e) {
    if (e instanceof Error && e.name === "MtlsError") throw e;
    throw badInput("the CSR's public key could not be read", e);
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (e) {
    throw badInput("the CSR's signature could not be checked (unsupported signature algorithm?)", e);
  }
  if (!valid) throw badInput("the CSR's signature does not verify against its public key");
  const plan = planLeaf(a, { ...p, keyAlgorithm });
  return issueLeafForPublicKey(a, plan, spkiDer);
}
