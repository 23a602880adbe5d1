#!/usr/bin/env node
import "reflect-metadata";
import { Command, CommanderError } from "commander";
import { exitCodeFor, MtlsError } from "../errors.js";
import { VERSION } from "../version.js";
import { registerCompletion } from "./completion.js";
import { registerConfigCommands } from "./config-commands.js";
import { addExitCodeHelp } from "./exit-codes-help.js";
import { runCaShow, showCaShow } from "./ca-show.js";
import { createCliContext, type CliContext, type GlobalOptions } from "./context.js";
import { runInit, showInit, type InitOptions } from "./init.js";
import { initKind, runInitCsr, runInitImport, showInitCsr } from "./init-upstream.js";
import { runIssue, showIssue, type IssueOptions } from "./issue.js";
import { printResult } from "./output.js";
import { runBackup, runRestore, showBackup } from "./backup.js";
import { runServe, type ServeOptions } from "./serve.js";
import { envoyExitCode, runEnvoy, showEnvoy, type EnvoyOptions } from "./envoy.js";
import { rotateExitCode, runRotate, showRotate, type RotateOptions } from "./rotate.js";
import { runStatus, showStatus, statusExitCode } from "./status.js";
import { remoteCaShow, remoteStatus, type RemoteReadParams } from "./remote-read.js";
import { collect, runPrune, showPrune, type PruneOptions } from "./prune.js";
import { pruneExitCode } from "../rotation/prune.js";
import { runRotateCa, showRotateCa, type RotateCaOptions } from "./rotate-ca.js";
import { auditExitCode, printAudit, readAuditFormat, runAudit, type AuditOptions } from "./audit.js";

/** `status`, `ca show`, `envoy <service>`: --server and what runs without the KEK. */
const READ_SERVER = "read from the running CA service (swarm-mtls serve) at https://HOST:PORT instead (public API: no token, no KEK, no Docker)";
const READ_ONLY_HELP =
  "\nNeeds no key-encryption key: without a readable one the CA state's public part is read, unauthenticated (a note on\n" +
  "stderr says so). --server https://HOST:PORT reads a running serve's public API instead (http:// only to a loopback\n" +
  "address; --ca-file FILE: the root that issued the API's certificate).\n";
interface RemoteReadOptions {
  server?: string;
  caFile?: string;
}
const remoteParams = (o: RemoteReadOptions): RemoteReadParams => ({ server: o.server as string, ...(o.caFile ? { caFile: o.caFile } : {}) });

const KEY_ALGS = "ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072";

/** Builds the whole command tree. `run` receives each command's action so tests can drive the program in-process. */
export function buildProgram(env: Record<string, string | undefined>): Command {
  const program = new Command("swarm-mtls")
    .description("Certificate authority and certificate rotation for Docker Swarm services (mTLS, SPIFFE IDs, Envoy sidecars).")
    .version(VERSION)
    .option("-c, --config <file>", "YAML config file (default: none; SWARM_MTLS_CONFIG)")
    .option("--store <store>", "where CA state lives: auto | swarm | file:DIR (default: auto)")
    .option("--kek-file <file>", "key-encryption key file, base64 of 32 bytes (default: DIR/kek on the file store)")
    .option("--json", "print results as JSON")
    .option("--log-level <level>", "trace | debug | info | warn | error")
    // `issue --help` also lists --store, --kek-file, --json: an operator needs them on every command.
    .configureHelp({ showGlobalOptions: true })
    // Bad input is ONE line on stderr: commander's message (plus any "Did you mean" hint) and the help pointer.
    .configureOutput({
      outputError: (str, write) => write(`swarm-mtls: ${str.replace(/^error: /, "").trim().split(/\s*\n\s*/).join(" ")} (run with --help for usage)\n`),
    });

  const context = (cmd: Command, flags?: Record<string, unknown>, defaultLogLevel?: string): CliContext =>
    createCliContext({ global: cmd.optsWithGlobals<GlobalOptions>(), env, flags, defaultLogLevel });

  program
    .command("init")
    .description("create a root CA and an online intermediate for a trust domain, or an intermediate under your own CA")
    .option("--trust-domain <domain>", "SPIFFE trust domain (default: ca.trustDomain, swarm.local)")
    .option("--key-alg <alg>", `CA key algorithm: ${KEY_ALGS} (default: ecdsa-p256)`)
    .option("--root-ttl <duration>", "root lifetime (default: 10y)")
    .option("--intermediate-ttl <duration>", "intermediate lifetime (default: 1y)")
    .option("--max-leaf-ttl <duration>", "upper bound of leaf lifetimes (default: 7d)")
    .option("--offline-root <file>", "write the root key only to this encrypted file (PKCS#8, scrypt + AES-256) and keep it out of the store")
    .option("--root-passphrase-file <file>", "passphrase for --offline-root (at least 16 characters)")
    .option("--intermediate-csr <file>", "under your own upstream CA, step 1: make the intermediate's key (sealed in the store, pending) and write its CSR to this file for your CA to sign")
    .option("--import-intermediate <cert>", "step 2: import the intermediate certificate your CA signed from that CSR (with --upstream-bundle)")
    .option("--upstream-bundle <file>", "with --import-intermediate: your CA's root certificate(s), PEM; they become the trust bundle")
    .option("--force", "replace an existing CA (with --intermediate-csr: also a pending intermediate)")
    .addHelpText(
      "after",
      "\nUnder your own upstream CA (Vault, step-ca, an offline openssl root), in two steps:\n" +
        "  swarm-mtls init --intermediate-csr intermediate.csr --trust-domain example.org\n" +
        "  (have intermediate.csr signed as an intermediate CA: CA:TRUE, pathlen:0, keyCertSign)\n" +
        "  swarm-mtls init --import-intermediate intermediate.pem --upstream-bundle root.pem\n" +
        "The import refuses a certificate that is not for the pending key, not a CA, not valid now or not signed by a\n" +
        "root of the bundle, and then changes nothing. The root's key stays with your CA: root rotation is its job.\n" +
        "\nExit codes: 0 done, 2 bad input, a CA (or a pending intermediate) exists without --force, no pending\n" +
        "intermediate to import, or a wrong key-encryption key; 1 the store failed.\n" +
        "\nExample:\n  swarm-mtls init --trust-domain example.org --store file:./data\n",
    )
    .action(async (o: InitOptions, cmd: Command) => {
      const ctx = context(cmd);
      const kind = initKind(o);
      if (kind === "csr") printResult(await runInitCsr(ctx, o), { json: ctx.json }, showInitCsr);
      else printResult(kind === "import" ? await runInitImport(ctx, o) : await runInit(ctx, o), { json: ctx.json }, showInit);
    });

  program
    .command("issue")
    .description("issue a leaf certificate and write tls.crt (chain), tls.key (0400) and ca.crt (trust bundle)")
    .argument("<identity>", "identity name: lower-case letters, digits, '.', '_', '-'")
    .option("--dns <names>", "DNS names, comma separated")
    .option("--uri <uri>", "extra URI SAN (repeatable); the SPIFFE ID is always added", (v: string, prev: string[] = []) => [...prev, v])
    .option("--stack <stack>", "Swarm stack of the service: SPIFFE ID /swarm/<stack>/<identity> instead of /id/<identity>")
    .option("--admin", "an administrator's client certificate: SPIFFE ID /admin/<identity>, no DNS names (grants admin when <identity> is in api.adminIdentities)")
    .option("--ttl <duration>", "lifetime, e.g. 90m, 24h, 7d (default: leaf.ttl, 24h; at most the CA maximum)")
    .option("--key-alg <alg>", `key algorithm: ${KEY_ALGS} (default: the CA's)`)
    .option("--uid <uid>", "owner uid of tls.key (default: the current user)")
    .option("--gid <gid>", "owner gid of tls.key")
    .requiredOption("--out <dir>", "directory to write tls.crt, tls.key and ca.crt to")
    .addHelpText("after", "\nExamples:\n  swarm-mtls issue api --dns api,tasks.api --ttl 24h --out ./certs/api\n  swarm-mtls issue alice --admin --ttl 8h --out ./certs/alice\n")
    .action(async (identity: string, o: IssueOptions, cmd: Command) => {
      const ctx = context(cmd);
      printResult(await runIssue(ctx, identity, o), { json: ctx.json }, showIssue);
    });

  const ca = program.command("ca").description("inspect the certificate authority");
  ca.command("show")
    .description("print subject, fingerprints and validity of the root(s) and the intermediate")
    .option("--server <url>", READ_SERVER)
    .option("--ca-file <file>", "with --server: PEM root(s) to verify the API's certificate (default: the system's)")
    .addHelpText("after", READ_ONLY_HELP)
    .action(async (o: RemoteReadOptions, cmd: Command) => {
      const ctx = context(cmd);
      printResult(o.server ? await remoteCaShow(remoteParams(o)) : await runCaShow(ctx), { json: ctx.json }, showCaShow);
    });

  program
    .command("rotate")
    .description("issue and roll out certificates to opted-in services that are due (or all with --force)")
    .argument("[service...]", "service names or ids")
    .option("--all", "every service labelled mtls.enable=true")
    .option("--force", "rotate even when not due")
    .option("--dry-run", "print the plan and change nothing")
    .option("--concurrency <n>", "services rolled at once (default: rotation.concurrency, 4)")
    .option("--timeout <duration>", "upper bound per service rollout (default: rotation.timeout, 5m)")
    .option("--server <url>", "ask the running CA service (swarm-mtls serve) at https://HOST:PORT to rotate, under its lease")
    .option("--admin-token-file <file>", "with --server: file holding the admin bearer token")
    .option("--ca-file <file>", "with --server: PEM root(s) to verify the API's certificate (default: the system's)")
    .addHelpText(
      "after",
      "\nExit codes: 0 all done, 1 some service failed (and was rolled back), 2 bad input, 3 another rotation is running.\n" +
        "Examples:\n  swarm-mtls rotate --all --dry-run\n  swarm-mtls rotate shop_api --force\n" +
        "  swarm-mtls rotate shop_api --force --server https://mgr1:8443 --admin-token-file token --ca-file root.pem\n",
    )
    .action(async (services: string[], o: RotateOptions, cmd: Command) => {
      const ctx = context(cmd);
      const report = await runRotate(ctx, services, o);
      printResult(report, { json: ctx.json }, showRotate);
      process.exitCode = rotateExitCode(report);
    });

  program
    .command("rotate-ca")
    .description("rotate the intermediate CA (or the root and intermediate with --root) in resumable phases: prepare, trust, issue, retire")
    .option("--root", "rotate the root too (cross-signed by the old root during the overlap)")
    .option("--step", "run only the next phase, say which one finished and which comes next")
    .option("--dry-run", "print the phases that would run and change nothing")
    .option("--concurrency <n>", "services rolled at once (default: rotation.concurrency, 4)")
    .option("--timeout <duration>", "upper bound per service rollout (default: rotation.timeout, 5m)")
    .addHelpText(
      "after",
      "\nA crash or a failed service leaves the phase reached in the CA state; run the command again to resume.\n" +
        "Exit codes: 0 done, 1 a phase could not finish (the services are named), 2 bad input, 3 another rotation is running.\n" +
        "Examples:\n  swarm-mtls rotate-ca --dry-run\n  swarm-mtls rotate-ca --root --step\n",
    )
    .action(async (o: RotateCaOptions, cmd: Command) => {
      const ctx = context(cmd);
      printResult(await runRotateCa(ctx, o), { json: ctx.json }, showRotateCa);
    });

  program
    .command("prune")
    .description("remove the certificates, keys and Envoy configs of identities no service uses any more (after docker stack rm)")
    .option("--stack <name>", "identities of this stack's services, <stack>_<service> (repeatable)", collect)
    .option("--identity <id>", "an identity by name (repeatable)", collect)
    .option("--all", "every managed identity no service uses")
    .option("--keep-bundle", "keep the CA's trust bundle secrets even when no service uses them")
    .option("--dry-run", "print what would be removed and change nothing")
    .addHelpText(
      "after",
      "\nAn identity a service still mounts or claims (label mtls.enable=true) is kept, with the service named; the trust\n" +
        "bundle goes only when no service uses any bundle of this CA. CA state, the key-encryption key and the lease are\n" +
        "never touched. Exit codes: 0 everything in scope removed, 1 something in scope is still in use or Docker refused,\n" +
        "2 bad input, 3 a rotation is running.\nExamples:\n  docker stack rm shop && swarm-mtls prune --stack shop --dry-run\n  swarm-mtls prune --identity legacy-api --keep-bundle\n",
    )
    .action(async (o: PruneOptions, cmd: Command) => {
      const ctx = context(cmd);
      const report = await runPrune(ctx, o);
      printResult(report, { json: ctx.json }, showPrune);
      process.exitCode = pruneExitCode(report);
    });

  program
    .command("status")
    .description("certificates of every opted-in service: generation, serial, expiry, next rotation, issuer")
    .addHelpText(
      "after",
      "\nOn a swarm manager it lists the services labelled mtls.enable=true. The embedded mode's identities (config\n" +
        "identities:, files under DIR/certs/) are listed with --store file:DIR, and by plain `status` when no swarm\n" +
        "manager is reachable and ./data holds a CA.\n" +
        READ_ONLY_HELP +
        "With --server the lease is not known: a certificate due for renewal exits 4.\n",
    )
    .option("--server <url>", READ_SERVER)
    .option("--ca-file <file>", "with --server: PEM root(s) to verify the API's certificate (default: the system's)")
    .action(async (o: RemoteReadOptions, cmd: Command) => {
      const ctx = context(cmd);
      const result = o.server ? await remoteStatus(remoteParams(o)) : await runStatus(ctx);
      printResult(result, { json: ctx.json }, showStatus);
      process.exitCode = statusExitCode(result, ctx.clock());
    });

  program
    .command("backup")
    .description("export the CA state (keys stay encrypted under the key-encryption key) to a file")
    .requiredOption("--out <file>", "backup file to write (mode 0600)")
    .action(async (o: { out?: string }, cmd: Command) => {
      const ctx = context(cmd);
      printResult(await runBackup(ctx, o), { json: ctx.json }, showBackup("backed up"));
    });

  program
    .command("restore")
    .description("put a CA state backup back into the store (checks the key-encryption key opens it first)")
    .argument("<file>", "a file written by `swarm-mtls backup`")
    .option("--force", "replace the CA that is in the store now")
    .option("--accept-unauthenticated", "restore a backup made by a version before the CA state was authenticated (check its root fingerprints first)")
    .action(async (file: string, o: { force?: boolean; acceptUnauthenticated?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      printResult(await runRestore(ctx, file, o), { json: ctx.json }, showBackup("restored"));
    });

  program
    .command("serve")
    .description("keep every opted-in service's certificates fresh (schedule + Docker events) and serve the HTTP API")
    .option("--listen <host:port>", "API address (default: api.listen, 127.0.0.1:8443)")
    .option("--admin-token-file <file>", "file with the bearer token for admin routes (a Docker secret in swarm)")
    .option("--tls", "serve the API over HTTPS with a certificate of this CA (default in swarm mode)")
    .option("--no-tls", "plain HTTP (keep the listener on loopback)")
    .option("--once", "reconcile once, then exit (for cron jobs and tests)")
    .option("--init", "first run: create the CA (and the key-encryption key file and secret) when the store has none; an existing CA is reused")
    .option("--trust-domain <domain>", "trust domain of a CA this run creates (default: ca.trustDomain); an existing CA must have it")
    .option("--sds", "serve the Secret Discovery Service for Envoy sidecars (sds.enabled; off by default)")
    .option("--sds-listen <host:port>", "SDS address, mTLS only (default: sds.listen, 0.0.0.0:8444); implies --sds")
    .addHelpText(
      "after",
      "\nOn a swarm manager the first run is `serve --init --trust-domain example.org` (npm start -- --init ...): it\n" +
        "creates the key-encryption key file (--kek-file, default ./data/kek, mode 0400), the secret swarm-mtls-kek and\n" +
        "the CA, then serves; later runs reuse them. Without a reachable swarm (store auto) it runs the embedded mode on\n" +
        "the file store ./data: creates a CA on first start and keeps the identities listed in config (identities:)\n" +
        "fresh under ./data/certs/<identity>/.\n",
    )
    .action(async (o: ServeOptions, cmd: Command) => {
      const ctx = context(cmd, undefined, "info");
      await runServe(ctx, o);
    });

  program
    .command("envoy")
    .description("print the Envoy sidecar bootstrap of a service, or check any Envoy config against Envoy's API protos")
    .argument("<service|check>", "a service with the label mtls.envoy=true, or the word `check`")
    .argument("[file]", "with `check`: the Envoy config (YAML or JSON) to validate")
    .option("--out <file>", "write the bootstrap to this file instead of printing it")
    .option("--check", "also validate the generated bootstrap (errors and warnings)")
    .option("--server <url>", READ_SERVER)
    .option("--ca-file <file>", "with --server: PEM root(s) to verify the API's certificate (default: the system's)")
    .addHelpText(
      "after",
      READ_ONLY_HELP +
      "\nExit codes: 0 ok, 1 the config has errors, 2 bad input.\nExamples:\n  swarm-mtls envoy shop_api --out envoy.yaml\n  swarm-mtls envoy check /etc/envoy/envoy.yaml\n",
    )
    .action(async (target: string, file: string | undefined, o: EnvoyOptions, cmd: Command) => {
      const ctx = context(cmd);
      const r = await runEnvoy(ctx, target, file, o);
      printResult(r, { json: ctx.json }, showEnvoy);
      process.exitCode = envoyExitCode(r);
    });

  program
    .command("audit")
    .description("check the swarm's network-security posture (segmentation, encryption, secrets, socket, capabilities, certificates); read-only")
    .option("--format <format>", "table | json | sarif (default: table; --json = json)")
    .option("--fail-on <severity>", "exit 1 when a finding at or above this exists: info | low | medium | high | critical | none (default: high)")
    .addHelpText(
      "after",
      "\nExit codes: 0 nothing at or above --fail-on, 1 findings at or above it (or Docker unreachable), 2 bad input.\n" +
        "Examples:\n  swarm-mtls audit\n  swarm-mtls audit --format sarif --fail-on medium > audit.sarif\n",
    )
    .action(async (o: AuditOptions, cmd: Command) => {
      const ctx = context(cmd);
      const report = await runAudit(ctx, o);
      printAudit(report, readAuditFormat(o, ctx.json));
      process.exitCode = auditExitCode(report);
    });

  registerConfigCommands(program);
  registerCompletion(program); // after every command: it reads the whole tree
  addExitCodeHelp(program);
  return program;
}

/** Runs the CLI; returns the exit code. Errors print one line, never key material. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const program = buildProgram(env);
  program.exitOverride();
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  try {
    process.exitCode = 0;
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return 2;
    }
    const message = e instanceof MtlsError ? e.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`;
    process.stderr.write(`swarm-mtls: ${message}\n`);
    return exitCodeFor(e);
  }
}

/**
 * A reader that stops early (`swarm-mtls status | head -1`) closes the pipe: the command's output is written only
 * after its work is done, so exit quietly with the code decided so far instead of an unhandled EPIPE stack.
 * A closed stderr is ignored: there is nowhere left to report to.
 */
export function exitQuietlyOnClosedPipe(stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream): void {
  stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
  });
  stderr.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
  });
}

const invokedDirectly = process.argv[1] && /swarm-mtls$|main\.(js|ts)$/.test(process.argv[1]);
if (invokedDirectly) {
  exitQuietlyOnClosedPipe(process.stdout, process.stderr);
  main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
