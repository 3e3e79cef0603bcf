/**
 * Remote verification: the exact command that `pulumi up` runs on the box over SSH once the
 * instance exists, and the parser of what it prints. The command waits for the boot-time setup
 * (`devbox-wait`) and then runs the on-box check (`devbox-verify`); both print one fixed marker
 * as their last line, which is what the parser reads. See cloud-init/README.md for the on-box
 * layout.
 *
 * Known limit: a reboot during setup (after the driver install) closes the SSH session, and the
 * command fails with the connection instead of a marker; the next `pulumi up` runs it again.
 */

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { shellQuote } from "./shell";

/** Where the setup installs its programs on the box (cloud-init/README.md). */
export const DEVBOX_PREFIX = "/opt/devbox";

export const VERIFY_OK_MARKER = "DEVBOX_VERIFY_OK";
export const VERIFY_FAILED_MARKER = "DEVBOX_VERIFY_FAILED";
/** devbox-wait's marker when a setup step or cloud-init failed. */
export const SETUP_FAILED_MARKER = "DEVBOX_SETUP_FAILED";
/** devbox-wait's marker when the setup did not finish within the timeout. */
export const SETUP_TIMEOUT_MARKER = "DEVBOX_SETUP_TIMEOUT";

export interface WaitThenVerifyOptions {
  /** How long devbox-wait waits for the setup, in minutes (`verify.timeoutMinutes`). */
  readonly timeoutMinutes: number;
  /** Model the check loads (`verify.model`). Default: the box's DEVBOX_VERIFY_MODEL. */
  readonly model?: string;
  /** Install prefix of the devbox programs. Default /opt/devbox; tests use a temporary one. */
  readonly prefix?: string;
  /**
   * Run both programs through `sudo -n`. Default true: Ubuntu's login user is not root, and the
   * setup's log and state are root's. `-n` makes a sudo that wants a password fail at once
   * instead of hanging `pulumi up`. Set false when the SSH user is root.
   */
  readonly sudo?: boolean;
  /**
   * Extra environment for both programs, such as DEVBOX_STATE_DIR in tests or DEVBOX_CLOUD_INIT=""
   * on a bring-your-own host. It is set by env(1) after sudo, because sudo drops the caller's
   * environment and sshd passes none without AcceptEnv. Values land on a command line that
   * Pulumi shows and stores: never put a secret here.
   */
  readonly environment?: Readonly<Record<string, string>>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The command that waits for setup to finish, then checks the box. It stops at the first that
 * fails, so its exit status is the failing program's: 1 (a step failed), 124 (setup timed out)
 * or 0 when every check passed.
 */
export function waitThenVerifyCommand(options: WaitThenVerifyOptions): string {
  const { timeoutMinutes, model, prefix = DEVBOX_PREFIX, sudo = true } = options;
  const problems: string[] = [];
  if (!Number.isFinite(timeoutMinutes) || timeoutMinutes <= 0) {
    problems.push(
      `timeoutMinutes: must be a positive number of minutes (got ${timeoutMinutes}). ` +
        "Set verify.timeoutMinutes.",
    );
  }
  if (!prefix.startsWith("/")) {
    problems.push(`prefix: must be an absolute path (got ${JSON.stringify(prefix)}).`);
  }
  const environment: Record<string, string> = { ...options.environment };
  for (const name of Object.keys(environment).filter((n) => !ENV_NAME.test(n))) {
    problems.push(`environment: ${JSON.stringify(name)} is not a variable name.`);
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));

  const envWords = Object.entries(environment).map(([k, v]) => shellQuote(`${k}=${v}`));
  const run = (program: string, args: string[], extraEnv: string[] = []): string => {
    const env = [...envWords, ...extraEnv];
    const words = [
      ...(sudo ? ["sudo", "-n"] : []),
      ...(env.length > 0 ? ["env", ...env] : []),
      shellQuote(`${prefix.replace(/\/+$/, "")}/bin/${program}`),
      ...args,
    ];
    return words.join(" ");
  };
  // Whole seconds, rounded up: devbox-wait takes whole seconds only.
  const timeoutSeconds = String(Math.ceil(timeoutMinutes * 60));
  const modelEnv = model === undefined ? [] : [shellQuote(`DEVBOX_VERIFY_MODEL=${model}`)];
  return `${run("devbox-wait", ["--timeout", timeoutSeconds])} && ${run("devbox-verify", [], modelEnv)}`;
}

export interface VerifyStep {
  readonly name: string;
  readonly ok: boolean;
  readonly seconds: number;
  readonly detail: string;
}

/** The JSON report devbox-verify prints on the line before its marker. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly failed_step: string | null;
  readonly log: string;
  /** Facts about the box: GPU names, driver, torch and CUDA versions, the model, ... */
  readonly host: Readonly<Record<string, unknown>>;
  readonly steps: readonly VerifyStep[];
}

export interface VerifyOutcome {
  /** True only for DEVBOX_VERIFY_OK with a report that agrees. */
  readonly ok: boolean;
  /** Which program spoke last: the setup wait or the check. */
  readonly stage?: "setup" | "verify";
  /** The failed step: a setup step (stage setup) or a check step (stage verify). */
  readonly failedStep?: string;
  /** True when the setup did not finish within the timeout. */
  readonly timedOut?: boolean;
  /** The log on the box that says why. */
  readonly log?: string;
  readonly report?: VerifyReport;
  /** One line a person can act on. */
  readonly summary: string;
}

function isReport(value: unknown): value is VerifyReport {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.ok === "boolean" &&
    Array.isArray(r.steps) &&
    r.steps.every(
      (s: unknown) =>
        typeof s === "object" &&
        s !== null &&
        typeof (s as VerifyStep).name === "string" &&
        typeof (s as VerifyStep).ok === "boolean",
    )
  );
}

/** The last line before the marker that is a JSON report; undefined when there is none. */
function findReport(lines: string[]): VerifyReport | undefined {
  for (let i = lines.length - 2; i >= 0; i--) {
    if (!lines[i].startsWith("{")) continue;
    try {
      const value: unknown = JSON.parse(lines[i]);
      if (isReport(value)) return value;
    } catch {
      // A progress line that merely starts with "{": keep looking.
    }
  }
  return undefined;
}

/**
 * Reads what the wait-then-verify command printed on stdout: the last non-empty line is one of
 * the four markers, and a check's JSON report is the line before its marker.
 */
export function parseVerifyReport(stdout: string): VerifyOutcome {
  const lines = stdout
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l !== "");
  const last = lines[lines.length - 1] ?? "";
  const report = findReport(lines);

  if (last === VERIFY_OK_MARKER) {
    if (report === undefined) {
      return { ok: false, stage: "verify", summary: `${VERIFY_OK_MARKER} without a JSON report` };
    }
    if (!report.ok) {
      return {
        ok: false,
        stage: "verify",
        report,
        summary: `${VERIFY_OK_MARKER} but the report says the check failed`,
      };
    }
    return {
      ok: true,
      stage: "verify",
      report,
      summary: `all ${report.steps.length} checks passed`,
    };
  }

  const failed = new RegExp(`^${VERIFY_FAILED_MARKER} step=(\\S+) log=(.+)$`).exec(last);
  if (failed) {
    const [, step, log] = failed;
    const detail = report?.steps
      .find((s) => s.name === step)
      ?.detail.trim()
      .split("\n")
      .pop();
    return {
      ok: false,
      stage: "verify",
      failedStep: step,
      log,
      report,
      summary: `check ${step} failed${detail ? `: ${detail}` : ""}; read ${log} on the box`,
    };
  }

  const setupFailed = new RegExp(`^${SETUP_FAILED_MARKER} step=(\\S+) log=(.+)$`).exec(last);
  if (setupFailed) {
    const [, step, log] = setupFailed;
    return {
      ok: false,
      stage: "setup",
      failedStep: step,
      log,
      summary: `setup step ${step} failed; read ${log} on the box`,
    };
  }

  const timedOut = new RegExp(`^${SETUP_TIMEOUT_MARKER} step=(\\S+) seconds=(\\d+) log=(.+)$`).exec(
    last,
  );
  if (timedOut) {
    const [, step, seconds, log] = timedOut;
    return {
      ok: false,
      stage: "setup",
      failedStep: step,
      timedOut: true,
      log,
      summary:
        `setup did not finish within ${seconds} s (still at ${step}); read ${log} on the box, ` +
        "or raise verify.timeoutMinutes",
    };
  }

  return {
    ok: false,
    summary:
      last === ""
        ? "the command printed nothing"
        : `no result marker: the command ended early (last line: ${last.slice(0, 200)})`,
  };
}

export interface VerificationArgs extends WaitThenVerifyOptions {
  /** How to reach the box: its address, the login user and the private key. */
  readonly connection: command.types.input.remote.ConnectionArgs;
  /** Run the check again when any of these change, such as the instance ID or user-data. */
  readonly triggers?: pulumi.Input<unknown>[];
}

/**
 * The remote.Command's arguments. `create` is the whole wait-then-verify command: a non-zero exit
 * fails `pulumi up` with the command's output, so a box that fails its check never reports
 * success. There is no `delete`: destroying the box needs nothing from it.
 */
export function verificationCommandArgs(args: VerificationArgs): command.remote.CommandArgs {
  return {
    connection: args.connection,
    create: waitThenVerifyCommand(args),
    triggers: args.triggers,
  };
}

export interface Verification {
  readonly command: command.remote.Command;
  /** The parsed result; it exists only when the command succeeded, so `ok` is true there. */
  readonly outcome: pulumi.Output<VerifyOutcome>;
}

/** Creates `${name}-verify`, the remote check, and the outcome read from its output. */
export function createVerification(
  name: string,
  args: VerificationArgs,
  opts?: pulumi.CustomResourceOptions,
): Verification {
  const cmd = new command.remote.Command(`${name}-verify`, verificationCommandArgs(args), opts);
  return { command: cmd, outcome: cmd.stdout.apply(parseVerifyReport) };
}
