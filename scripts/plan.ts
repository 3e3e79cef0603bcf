/**
 * The offline plan: `npm run plan -- <stack> [--json] [--out DIR]`.
 *
 * Loads stacks/Pulumi.<stack>.yaml over the project defaults in Pulumi.yaml, runs the real
 * program under Pulumi's mocks (no credentials, no Pulumi CLI, no network) and prints what
 * `pulumi up` would create, which instance type and why, the hourly estimate and the user-data.
 * Exit status: 0 planned, 2 bad config or usage (each problem on its own line on stderr),
 * 1 anything else.
 */
import * as fs from "fs";
import * as path from "path";
import { GPU_INFO } from "../infra/catalog";
import { ConfigError, resolveConfig, ResolvedConfig } from "../infra/config/load";
import { loadStack, SECRET_PLACEHOLDER, StackFileError } from "../infra/config/files";
import { OfflineCall, OfflineResource, runOffline } from "../infra/offline";
import { PlacementError } from "../infra/network";
import { renderUserData, UserDataTooLargeError, verificationFiles } from "../infra/userdata";

export const USAGE = "usage: npm run plan -- <stack> [--json] [--out DIR]";

export interface PlanOptions {
  json: boolean;
  out?: string;
}

export interface PlanResult {
  stack: string;
  region: string;
  partition: string;
  target: string;
  instanceType: string | null;
  reason: string;
  gpu: { model: string; label: string; count: number; memoryGiB: number } | null;
  memoryGiB: number | null;
  vcpu: number | null;
  hourlyUsd: number | null;
  cost: unknown;
  priceDate: string | null;
  resources: {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    options: OfflineResource["options"];
  }[];
  lookups: OfflineCall[];
  userData: { bytes: number; compressedBytes: number; limitBytes: number } | null;
  outputs: Record<string, unknown>;
  warnings: string[];
  environments: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: string[]): { stack: string } & PlanOptions {
  let stack: string | undefined;
  const opts: PlanOptions = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") opts.json = true;
    else if (a === "--out") {
      const dir = argv[++i];
      if (dir === undefined || dir.startsWith("--"))
        throw new UsageError("--out needs a directory");
      opts.out = dir;
    } else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
    else if (stack === undefined) stack = a;
    else throw new UsageError(`one stack at a time (got ${stack} and ${a})`);
  }
  if (stack === undefined) throw new UsageError("which stack? e.g. npm run plan -- rtx");
  return { stack, ...opts };
}

/** Values a reviewer must never see in a plan: Pulumi secrets and private key material. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export function redact(v: unknown): unknown {
  if (typeof v === "string") {
    return v.includes("PRIVATE KEY") || v === SECRET_PLACEHOLDER ? "[secret]" : v;
  }
  if (Array.isArray(v)) return v.map(redact);
  if (v !== null && typeof v === "object") {
    if (SECRET_SIG in v) return "[secret]";
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redact(x)]));
  }
  return v;
}

/** Inputs shown for review: everything but the (large) user-data, which is sized instead. */
function reviewInputs(r: OfflineResource): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.inputs)) {
    if (k === "userDataBase64" || k === "userData") {
      out[k] = typeof v === "string" ? `[${v.length} base64 chars: see user-data.yaml]` : v;
    } else out[k] = redact(v);
  }
  return out;
}

export async function plan(
  stack: string,
): Promise<{ result: PlanResult; files: Map<string, string> }> {
  const loaded = loadStack(stack);
  // Validate first: bad config must never reach resource creation.
  const cfg: ResolvedConfig = resolveConfig(loaded.config, stack);
  const warnings: string[] = [];
  const { devboxProgram } = await import("../infra/program");
  const run = await runOffline(loaded.config, loaded.secretKeys, stack, () =>
    devboxProgram({
      config: loaded.config,
      stack,
      now: new Date(0),
      onWarning: (w) => warnings.push(w),
    }),
  );
  const t = cfg.instanceType;
  const cost = run.outputs.hourlyCostUsd as { totalUsd: number; priceDate: string } | undefined;
  const ud = run.outputs.userData as PlanResult["userData"] | undefined;
  const files = new Map<string, string>();
  // The files the box receives, as it receives them: the cloud-config and every script in it,
  // plus the two programs the verification brings over SSH.
  const volumeId = cfg.settings.target === "aws" ? "devbox-data-id" : "";
  const rendered = renderUserData(cfg, volumeId);
  files.set("user-data.yaml", rendered.yaml);
  for (const f of [...rendered.files, ...verificationFiles()]) {
    files.set(path.join("files", f.path), f.content);
  }
  const outputs = redact(run.outputs) as Record<string, unknown>;
  // The plan runs with a fixed clock; the real expiry counts from when the box is created.
  if (cfg.settings.ttlHours > 0) {
    outputs.expiresAt = `${cfg.settings.ttlHours} h after creation (tag devbox:expires-at)`;
  }
  if (outputs.verification !== undefined && typeof outputs.verification !== "string") {
    outputs.verification = "runs on the box at pulumi up; nothing runs offline";
  }
  const result: PlanResult = {
    stack,
    region: cfg.region,
    partition: cfg.partition,
    target: cfg.settings.target,
    instanceType: t?.name ?? null,
    reason: cfg.reason,
    gpu: cfg.gpu ? { ...cfg.gpu, label: GPU_INFO[cfg.gpu.model].label } : null,
    memoryGiB: t?.memoryGiB ?? null,
    vcpu: t?.vcpu ?? null,
    hourlyUsd: cost?.totalUsd ?? null,
    cost: cost ?? null,
    priceDate: cost?.priceDate ?? null,
    resources: run.resources.map((r) => ({
      type: r.type,
      name: r.name,
      inputs: reviewInputs(r),
      options: r.options,
    })),
    lookups: run.calls,
    userData: ud ?? null,
    outputs,
    warnings,
    environments: loaded.environments,
  };
  if (loaded.environments.length > 0) {
    warnings.push(
      `the stack imports ESC environment(s) ${loaded.environments.join(", ")}; offline, their values are not applied`,
    );
  }
  return { result, files };
}

const pad = (s: string, n: number) => (s.length >= n ? `${s} ` : s + " ".repeat(n - s.length));

export function renderText(r: PlanResult): string {
  const lines: string[] = [];
  lines.push(`llm-devbox plan for stack ${r.stack} (offline: Pulumi mocks, no cloud calls)`);
  const row = (k: string, v: string) => lines.push(`  ${pad(k, 13)}${v}`);
  if (r.target === "aws") row("region", `${r.region} (partition ${r.partition})`);
  if (r.instanceType) {
    row("instance", r.instanceType);
    row("why", r.reason);
    if (r.gpu) row("GPUs", `${r.gpu.count} x ${r.gpu.label} (${r.gpu.memoryGiB} GiB each)`);
    row("RAM", `${r.memoryGiB} GiB, ${r.vcpu} vCPU`);
    const c = r.cost as { instanceUsd: number; volumesUsd: number; totalUsd: number; note: string };
    row(
      "cost",
      `$${c.totalUsd.toFixed(2)}/h (instance $${c.instanceUsd.toFixed(2)} + volumes $${c.volumesUsd.toFixed(2)}); ${c.note}`,
    );
    row("zone", String(r.outputs.availabilityZone));
    row("image", String(r.outputs.image));
    row("expires", String(r.outputs.expiresAt).replace(/^never$/, "never (no devbox:ttlHours)"));
    row(
      "data volume",
      r.outputs.dataVolumeKeptOnDestroy ? "KEPT after pulumi destroy" : "deleted by pulumi destroy",
    );
  } else {
    row("target", r.reason);
  }
  row(
    "user-data",
    r.userData
      ? `${r.userData.bytes} bytes, ${r.userData.compressedBytes} gzip (EC2 limit ${r.userData.limitBytes})`
      : "not sent (bring your own host: files are copied over SSH)",
  );
  lines.push(`resources (${r.resources.length}):`);
  const width = Math.max(...r.resources.map((x) => x.type.length), 10) + 2;
  for (const res of r.resources) lines.push(`  ${pad(res.type, width)}${res.name}`);
  if (r.warnings.length > 0) {
    lines.push("warnings:");
    for (const w of r.warnings) lines.push(`  ! ${w}`);
  }
  return lines.join("\n");
}

export function writeOut(dir: string, result: PlanResult, files: Map<string, string>): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const put = (rel: string, content: string) => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    written.push(p);
  };
  put("plan.json", JSON.stringify(result, null, 2) + "\n");
  for (const [rel, content] of files) put(rel, content);
  return written;
}

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    const { result, files } = await plan(args.stack);
    if (args.out) {
      const written = writeOut(args.out, result, files);
      if (!args.json) process.stderr.write(`wrote ${written.length} file(s) under ${args.out}\n`);
    }
    process.stdout.write((args.json ? JSON.stringify(result, null, 2) : renderText(result)) + "\n");
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.problems.join("\n") + "\n");
      return 2;
    }
    if (
      e instanceof StackFileError ||
      e instanceof PlacementError ||
      e instanceof UserDataTooLargeError
    ) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`plan failed: ${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
