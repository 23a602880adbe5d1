import { isMtlsError, type ErrorCode } from "../../src/errors.js";

import type { Test } from "tap";

type Asserter = Pick<Test, "ok">;

/** Asserts that fn throws an MtlsError with this code and a message matching re (what the operator reads). */
export function expectMtlsError(t: Asserter, fn: () => unknown, code: ErrorCode, re: RegExp, msg?: string): void {
  try {
    fn();
  } catch (e) {
    t.ok(isMtlsError(e, code) && re.test((e as Error).message), msg ?? String(re), { found: `${(e as { code?: string }).code}: ${(e as Error).message}`, wanted: `${code}: ${re}` });
    return;
  }
  t.ok(false, `${msg ?? String(re)}: did not throw`);
}

/** The async twin of expectMtlsError. */
export async function expectMtlsRejection(t: Asserter, p: Promise<unknown> | (() => Promise<unknown>), code: ErrorCode, re: RegExp, msg?: string): Promise<void> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    t.ok(isMtlsError(e, code) && re.test((e as Error).message), msg ?? String(re), { found: `${(e as { code?: string }).code}: ${(e as Error).message}`, wanted: `${code}: ${re}` });
    return;
  }
  t.ok(false, `${msg ?? String(re)}: did not reject`);
}
