/**
 * Where the CA state lives. The state document is opaque here: it is produced and opened by src/ca (every private
 * key inside is already encrypted under the key-encryption key). Two backends: file (a directory) and swarm
 * (a versioned Docker config).
 */
export interface CaStore {
  /** How an operator would name this store: "file:/abs/dir" or "swarm". */
  readonly location: string;
  /** The current CA state document, or null when no CA was initialised here. */
  readCaState(): Promise<string | null>;
  /** Writes a new CA state. With replace=false an existing state makes it fail with MtlsError("ca-exists"). */
  writeCaState(doc: string, p: { replace: boolean }): Promise<void>;
  /** The superseded CA states the store still keeps, newest first (absent: it keeps none). */
  olderCaStates?(): Promise<string[]>;
  /**
   * Removes every superseded CA state (the store keeps a few for manual rollback): after a CA rotation completes they
   * are the only place the retired CA keys are left. Returns the names removed. Absent: the store keeps none.
   */
  dropOlderCaStates?(): Promise<string[]>;
  /** Where the key-encryption key is expected when --kek-file is not given. */
  defaultKekFile(): string;
}
