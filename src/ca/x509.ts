/**
 * The one place that loads @peculiar/x509: v2 needs reflect-metadata first, and the WebCrypto provider is set once.
 * Import x509 from here, never from "@peculiar/x509" directly.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
