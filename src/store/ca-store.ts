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
  /**
   * The pending intermediate of `init --intermediate-csr` (its key sealed under the KEK), or null. It waits beside
   * the CA state, never in it: until its signed certificate is imported the store's CA (if any) is unchanged.
   */
  readPendingIntermediate(): Promise<string | null>;
  /** Stores a pending intermediate, replacing the one there was. */
  writePendingIntermediate(doc: string): Promise<void>;
  /** Removes the pending intermediate (after its import); nothing when there is none. */
  dropPendingIntermediate(): Promise<void>;
  /** Where the key-encryption key is expected when --kek-file is not given. */
  defaultKekFile(): string;
}
