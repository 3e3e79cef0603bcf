/**
 * The devbox command line: the whole loop in a few commands.
 *
 *   npm run devbox -- new <name> --preset <p> [--owner o] [--team t] [--cidr c] [--key file]
 *   npm run devbox -- plan <name> [--json]
 *   npm run devbox -- up <name> | down <name> | ls
 *   npm run devbox -- status <name> [--host user@addr] [--once]
 *   npm run devbox -- ssh <name> | tunnel <name>
 *
 * `up`, `down`, `ls` and finding a box's address use Pulumi's Automation API, which drives the
 * Pulumi CLI; without the CLI they say so and exit 3. Usage errors exit 2.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { ConfigError, resolveConfig } from "../infra/config/load";
import { listStacks, loadStack, REPO_ROOT, stackFile, stacksDir } from "../infra/config/files";
import { main as planMain } from "./plan";

export class UsageError extends Error {}
export class MissingCliError extends Error {}

export const EXIT_USAGE = 2;
export const EXIT_NO_CLI = 3;

interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

/** Splits `--flag value` pairs and positionals; every flag takes a value except those listed. */
export function parseFlags(
  argv: string[],
  known: Record<string, "value" | "switch">,
): { positionals: string[]; flags: Record<string, string | true> } {
  const positionals: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      positionals.push(a);
      continue;
    }
    const name = a.slice(2);
    const kind = known[name];
    if (kind === undefined) throw new UsageError(`unknown option ${a}`);
    if (kind === "switch") flags[name] = true;
    else {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value`);
      flags[name] = v;
    }
  }
  return { positionals, flags };
}

function oneName(positionals: string[], what = "stack name"): string {
  if (positionals.length === 0) throw new UsageError(`which ${what}?`);
  if (positionals.length > 1)
    throw new UsageError(`one ${what} at a time (got ${positionals.join(" ")})`);
  const name = positionals[0];
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(name)) {
    throw new UsageError(`${what} ${JSON.stringify(name)}: use lower case letters, digits, _ . -`);
  }
  return name;
}

export function pulumiOnPath(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.PATH ?? "")
    .split(path.delimiter)
    .some((dir) => dir !== "" && fs.existsSync(path.join(dir, "pulumi")));
}

export function requirePulumi(command: string): void {
  if (!pulumiOnPath()) {
    throw new MissingCliError(
      `devbox ${command}: the Pulumi CLI is not installed, and ${command} needs it ` +
        "(the offline plan does not). Install it (https://www.pulumi.com/docs/install/: " +
        "curl -fsSL https://get.pulumi.com | sh), log in with `pulumi login`, and run this again.",
    );
  }
}

/** `new`: a member's stack file from a preset, validated before it is written. */
export function newStack(
  name: string,
  preset: string,
  opts: { owner?: string; team?: string; cidr?: string; key?: string },
  dir = stacksDir(),
): string {
  const presets = listStacks(dir);
  if (!presets.includes(preset)) {
    throw new UsageError(
      `--preset ${preset}: no stacks/Pulumi.${preset}.yaml; presets: ${presets.join(", ")}`,
    );
  }
  const target = stackFile(name, dir);
  if (fs.existsSync(target)) {
    throw new UsageError(
      `${path.relative(REPO_ROOT, target)} exists; pick another name or edit it`,
    );
  }
  const doc = YAML.parseDocument(fs.readFileSync(stackFile(preset, dir), "utf8"));
  if (opts.owner) doc.setIn(["config", "devbox:owner"], opts.owner);
  if (opts.team) doc.setIn(["config", "devbox:team"], opts.team);
  if (opts.cidr) doc.setIn(["config", "devbox:ssh", "allowedCidrs"], doc.createNode([opts.cidr]));
  if (opts.key) {
    const key = fs.readFileSync(opts.key, "utf8").trim();
    doc.setIn(["config", "devbox:ssh", "publicKeys"], doc.createNode([key]));
  }
  doc.commentBefore = ` Stack ${name}, made by \`devbox new\` from preset ${preset}.`;
  const text = doc.toString();
  // Validate exactly what would be written, merged with the project defaults, before writing.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "devbox-new-"));
  try {
    fs.writeFileSync(stackFile(name, tmp), text);
    resolveConfig(loadStack(name, tmp).config, name);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  fs.writeFileSync(target, text);
  return target;
}

interface StepState {
  name: string;
  state: string;
  started?: number;
  ended?: number;
  seconds?: number;
}
export interface SetupStatus {
  state: string;
  step: string;
  updated?: number;
  steps: StepState[];
  error?: string;
}

const BAR_WIDTH = 20;

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/**
 * One line per step with a bar, elapsed time and state. Steps have no percentage of their own,
 * so a running step's bar grows with its elapsed time against `typicalSeconds` and stops short
 * of full until the step says done.
 */
export function renderStatus(
  status: SetupStatus,
  now: number,
  typicalSeconds: Record<string, number> = {},
): string {
  const width = Math.max(...status.steps.map((s) => s.name.length), 8);
  const lines = status.steps.map((s) => {
    let filled = 0;
    let time = "";
    if (s.state === "done") {
      filled = BAR_WIDTH;
      time = clock(s.seconds ?? (s.ended ?? now) - (s.started ?? now));
    } else if (s.state === "running" || s.state === "failed") {
      const elapsed = now - (s.started ?? now);
      const typical = typicalSeconds[s.name] ?? 600;
      filled = Math.min(BAR_WIDTH - 1, Math.floor((elapsed / typical) * BAR_WIDTH));
      time = clock(elapsed);
    }
    const bar = "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled);
    return `${s.name.padEnd(width)} [${bar}] ${s.state.padEnd(7)} ${time}`.trimEnd();
  });
  const head =
    status.state === "failed"
      ? `setup FAILED at ${status.step}: ${status.error ?? ""}`.trimEnd()
      : status.state === "done"
        ? "setup done; verification runs next"
        : `setup ${status.state}: ${status.step}`;
  return [head, ...lines].join("\n");
}

const LS_COLUMNS: [string, number][] = [
  ["stack", 18],
  ["type", 15],
  ["state", 9],
  ["$/h", 8],
  ["expires", 0],
];

export function lsHeader(): string {
  return LS_COLUMNS.map(([h, w]) => h.padEnd(w))
    .join(" ")
    .trimEnd();
}

/** One line of `devbox ls`, from what the Automation API reports about a stack. */
export function lsRow(s: {
  name: string;
  resourceCount?: number;
  updating?: boolean;
  outputs: Record<string, unknown>;
}): string {
  const cost = (s.outputs.hourlyCostUsd as { totalUsd?: number } | undefined)?.totalUsd;
  const state = s.updating ? "updating" : (s.resourceCount ?? 0) > 0 ? "up" : "empty";
  const cells = [
    s.name,
    String(s.outputs.instanceType ?? "-"),
    state,
    cost === undefined ? "-" : cost.toFixed(2),
    String(s.outputs.expiresAt ?? "-"),
  ];
  return cells
    .map((c, i) => c.padEnd(LS_COLUMNS[i][1]))
    .join(" ")
    .trimEnd();
}

async function stackOutputs(command: string, name: string): Promise<Record<string, unknown>> {
  requirePulumi(command);
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
  const stack = await LocalWorkspace.selectStack({ stackName: name, workDir: REPO_ROOT });
  const outs = await stack.outputs();
  return Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v.value]));
}

/** `--host` when given; otherwise the box's address from the stack's outputs (needs the CLI). */
async function sshTarget(
  command: string,
  name: string,
  host: string | true | undefined,
): Promise<string[]> {
  if (typeof host === "string") return [host];
  const outs = await stackOutputs(command, name);
  const cfg = resolveConfig(loadStack(name).config, name);
  return ["-p", String(cfg.settings.ssh.port), `${cfg.settings.ssh.user}@${outs.publicIp}`];
}

const COMMANDS: Record<string, Command> = {
  new: {
    summary: "write stacks/Pulumi.<name>.yaml from a preset, validated",
    usage:
      "new <name> --preset <preset> [--owner NAME] [--team TEAM] [--cidr CIDR] [--key PUBKEY_FILE]",
    async run(argv) {
      const { positionals, flags } = parseFlags(argv, {
        preset: "value",
        owner: "value",
        team: "value",
        cidr: "value",
        key: "value",
      });
      const name = oneName(positionals);
      if (typeof flags.preset !== "string") throw new UsageError("--preset is required");
      const file = newStack(name, flags.preset, flags as Record<string, string>);
      console.log(
        `=> wrote ${path.relative(REPO_ROOT, file)}; next: npm run devbox -- plan ${name}`,
      );
      return 0;
    },
  },
  plan: {
    summary: "the offline plan (no cloud account, no Pulumi CLI)",
    usage: "plan <name> [--json] [--out DIR]",
    async run(argv) {
      return planMain(argv);
    },
  },
  up: {
    summary: "create or update the box, wait for setup and verification",
    usage: "up <name>",
    async run(argv) {
      const name = oneName(parseFlags(argv, {}).positionals);
      resolveConfig(loadStack(name).config, name);
      requirePulumi("up");
      const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
      const stack = await LocalWorkspace.createOrSelectStack({
        stackName: name,
        workDir: REPO_ROOT,
      });
      const result = await stack.up({ onOutput: (o) => process.stdout.write(o) });
      console.log(`=> ${result.summary.result}; ssh: ${result.outputs.sshCommand?.value ?? "-"}`);
      return result.summary.result === "succeeded" ? 0 : 1;
    },
  },
  down: {
    summary: "destroy the box (says first what happens to the data volume)",
    usage: "down <name>",
    async run(argv) {
      const name = oneName(parseFlags(argv, {}).positionals);
      const cfg = resolveConfig(loadStack(name).config, name);
      console.log(
        cfg.settings.dataVolume.keepAfterDestroy
          ? "=> the data volume is KEPT (devbox:dataVolume.keepAfterDestroy); it bills until you delete it"
          : "=> the data volume and everything on /data will be DELETED with the box",
      );
      requirePulumi("down");
      const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
      const stack = await LocalWorkspace.selectStack({ stackName: name, workDir: REPO_ROOT });
      const result = await stack.destroy({ onOutput: (o) => process.stdout.write(o) });
      return result.summary.result === "succeeded" ? 0 : 1;
    },
  },
  ls: {
    summary: "stacks with type, state, hourly estimate and expiry",
    usage: "ls",
    async run(argv) {
      parseFlags(argv, {});
      requirePulumi("ls");
      const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
      const ws = await LocalWorkspace.create({ workDir: REPO_ROOT });
      const stacks = await ws.listStacks();
      console.log(lsHeader());
      for (const s of stacks) {
        const stack = await LocalWorkspace.selectStack({ stackName: s.name, workDir: REPO_ROOT });
        const outs = await stack.outputs();
        console.log(
          lsRow({
            name: s.name,
            resourceCount: s.resourceCount,
            updating: s.updateInProgress,
            outputs: Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v.value])),
          }),
        );
      }
      return 0;
    },
  },
  status: {
    summary: "setup progress over SSH, a bar per step, until verification",
    usage: "status <name> [--host user@address] [--once]",
    async run(argv) {
      const { positionals, flags } = parseFlags(argv, { host: "value", once: "switch" });
      const name = oneName(positionals);
      const target = await sshTarget("status", name, flags.host);
      for (;;) {
        const r = spawnSync("ssh", [...target, "cat /var/lib/devbox/status.json"], {
          encoding: "utf8",
        });
        if (r.status === 0 && r.stdout.trim() !== "") {
          const status = JSON.parse(r.stdout) as SetupStatus;
          process.stdout.write(renderStatus(status, Math.floor(Date.now() / 1000)) + "\n");
          if (status.state === "done") return 0;
          if (status.state === "failed") return 1;
        } else {
          console.log("=> waiting for the box to answer over SSH...");
        }
        if (flags.once) return 0;
        await new Promise((res) => setTimeout(res, 10_000));
      }
    },
  },
  ssh: {
    summary: "open a shell on the box",
    usage: "ssh <name> [--host user@address]",
    async run(argv) {
      const { positionals, flags } = parseFlags(argv, { host: "value" });
      const target = await sshTarget("ssh", oneName(positionals), flags.host);
      return spawnSync("ssh", target, { stdio: "inherit" }).status ?? 1;
    },
  },
  tunnel: {
    summary: "forward Jupyter to http://127.0.0.1:<port> on this machine",
    usage: "tunnel <name> [--host user@address]",
    async run(argv) {
      const { positionals, flags } = parseFlags(argv, { host: "value" });
      const name = oneName(positionals);
      const port = resolveConfig(loadStack(name).config, name).settings.jupyter.port;
      const target = await sshTarget("tunnel", name, flags.host);
      console.log(
        `=> Jupyter at http://127.0.0.1:${port} (token: ~/.jupyter/devbox-token on the box)`,
      );
      return (
        spawnSync("ssh", ["-N", "-L", `${port}:127.0.0.1:${port}`, ...target], { stdio: "inherit" })
          .status ?? 1
      );
    },
  },
};

export function help(command?: string): string {
  if (command && COMMANDS[command]) {
    return `usage: npm run devbox -- ${COMMANDS[command].usage}\n${COMMANDS[command].summary}`;
  }
  const rows = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(8)}${c.summary}`);
  return ["usage: npm run devbox -- <command> [args] (--help on any command)", ...rows].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "help") {
    console.log(help());
    return command === undefined ? EXIT_USAGE : 0;
  }
  const cmd = COMMANDS[command];
  if (cmd === undefined) {
    process.stderr.write(`devbox: unknown command ${command}\n${help()}\n`);
    return EXIT_USAGE;
  }
  if (rest.includes("--help")) {
    console.log(help(command));
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(
        `devbox ${command}: ${e.message}\nusage: npm run devbox -- ${cmd.usage}\n`,
      );
      return EXIT_USAGE;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(e.problems.join("\n") + "\n");
      return EXIT_USAGE;
    }
    if (e instanceof MissingCliError) {
      process.stderr.write(e.message + "\n");
      return EXIT_NO_CLI;
    }
    if (e instanceof Error && /no stack file/.test(e.message)) {
      process.stderr.write(`devbox ${command}: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`devbox: ${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
