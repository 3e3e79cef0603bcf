/**
 * Reads the stack's raw config, validates it against the schema, applies the preset and picks
 * the instance type. Everything that can be wrong is collected and thrown once, as a
 * ConfigError, before a single resource is declared.
 */
import {
  explainExplicitType,
  GPU_INFO,
  GpuModel,
  gpuMemoryGiB,
  InstanceType,
  PRICE_REGION,
  partitionOf,
  Requirements,
  selectInstanceType,
} from "../catalog";
import { PRESETS, PresetName } from "../presets";
import { ConfigError, formatIssues, problemLine } from "./errors";
import { settingsSchema, Settings, WORLD_CIDRS } from "./schema";

export { ConfigError } from "./errors";

export const NAMESPACE = "devbox";

export interface ResolvedConfig {
  readonly stack: string;
  readonly region: string;
  readonly partition: "aws" | "aws-cn" | "aws-us-gov";
  readonly settings: Settings;
  readonly preset?: PresetName;
  /** Undefined for a bring-your-own host (target ssh). */
  readonly instanceType?: InstanceType;
  /** Why this type: one line for the plan and the stack outputs. */
  readonly reason: string;
  readonly gpu: { model: GpuModel; count: number; memoryGiB: number } | undefined;
  /** Things that are allowed but that a reviewer should see every time. */
  readonly warnings: string[];
}

/** What Pulumi hands a program: every key as "namespace:key", every value as a string. */
export type PulumiConfigMap = Record<string, string>;

function parseValue(text: string): unknown {
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * Collects the `devbox:` keys into one object. A flat key with dots
 * (`devbox:dataVolume.sizeGiB: 800`) is accepted as shorthand for the nested form, because
 * that is how people write a one-off override.
 */
export function devboxObject(all: PulumiConfigMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(all)
    .filter((k) => k.startsWith(`${NAMESPACE}:`))
    .sort((a, b) => a.split(".").length - b.split(".").length || a.localeCompare(b));
  for (const full of keys) {
    const path = full.slice(NAMESPACE.length + 1).split(".");
    let cur = out;
    for (const seg of path.slice(0, -1)) {
      const next = cur[seg];
      if (next === undefined || next === null || typeof next !== "object" || Array.isArray(next)) {
        cur[seg] = {};
      }
      cur = cur[seg] as Record<string, unknown>;
    }
    cur[path[path.length - 1]] = parseValue(all[full]);
  }
  return out;
}

const REGION_RE = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

function regionOf(all: PulumiConfigMap, env: NodeJS.ProcessEnv): string | undefined {
  return all["aws:region"] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
}

function requirementsFor(settings: Settings, region: string, preset?: PresetName): Requirements {
  const fromPreset = preset ? PRESETS[preset] : undefined;
  return {
    gpuModel: settings.gpu.model ?? fromPreset?.gpuModel,
    gpuCount: settings.gpu.count ?? fromPreset?.gpuCount ?? 1,
    minGpuMemoryGiB: settings.gpu.minMemoryGiB,
    minRamGiB: settings.instance.minRamGiB,
    region,
  };
}

function warningsFor(settings: Settings, region: string, type?: InstanceType): string[] {
  const w: string[] = [];
  if (settings.owner === undefined) {
    w.push("devbox:owner is not set: the box is tagged devbox:owner=unowned; set your name.");
  }
  if (settings.target === "aws") {
    const world = settings.ssh.allowedCidrs.filter((c) => WORLD_CIDRS.includes(c));
    if (world.length > 0) {
      w.push(
        `SSH IS OPEN TO THE WORLD (${world.join(", ")}) because devbox:ssh.allowFromAnywhere is true.`,
      );
    }
    if (settings.ssh.allowedCidrs.length === 0) {
      w.push(
        "devbox:ssh.allowedCidrs is empty: the security group admits no SSH at all, so " +
          "verification cannot connect; add your address as a /32.",
      );
    }
    if (settings.ssh.publicKeys.length === 0) {
      w.push("devbox:ssh.publicKeys is empty: no key pair is created and nobody can log in.");
    }
    if (type && !region.startsWith(PRICE_REGION)) {
      w.push(`prices are ${PRICE_REGION} on-demand figures; ${region} differs.`);
    }
  }
  // The OS release picks an AWS image; your own host runs whatever it runs.
  if (settings.target === "aws" && settings.os.release === "ubuntu-20.04") {
    w.push(
      "Ubuntu 20.04 left standard support on 31 May 2025 (ESM until 2030); " +
        "devbox:os.release: ubuntu-22.04 is the maintained choice.",
    );
  }
  if (settings.dataVolume.keepAfterDestroy) {
    w.push(
      "the data volume is kept by pulumi destroy (devbox:dataVolume.keepAfterDestroy) and bills until deleted.",
    );
  }
  return w;
}

/**
 * Validates everything and returns the resolved config, or throws one ConfigError listing
 * every problem.
 */
export function resolveConfig(
  all: PulumiConfigMap,
  stack: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const problems: string[] = [];
  const raw = devboxObject(all);
  const region = regionOf(all, env);
  // Your own host (target ssh) needs no region; everything on AWS does.
  const ownHost = raw.target === "ssh";
  if (region === undefined && !ownHost) {
    problems.push(
      "aws:region: is not set (got nothing). Set it in the stack file or run: pulumi config set aws:region us-east-1",
    );
  } else if (region !== undefined && !REGION_RE.test(region)) {
    problems.push(
      `aws:region: is not an AWS region (got ${JSON.stringify(region)}). Use a code like us-east-1.`,
    );
  }

  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    problems.push(...formatIssues(parsed.error.issues, raw, settingsSchema));
    throw new ConfigError(problems);
  }
  const settings = parsed.data;
  const preset = settings.preset as PresetName | undefined;
  const regionName = region ?? "us-east-1";

  let instanceType: InstanceType | undefined;
  let reason = "";
  let gpu: ResolvedConfig["gpu"];
  if (settings.target === "aws" && region !== undefined && problems.length === 0) {
    const req = requirementsFor(settings, regionName, preset);
    if (settings.instance.type !== undefined) {
      const { type, problems: missed } = explainExplicitType(settings.instance.type, req);
      if (missed.length > 0 || type === undefined) {
        problems.push(
          problemLine(
            "instance.type",
            missed.join("; "),
            JSON.stringify(settings.instance.type),
            type === undefined
              ? "Pick a type from the catalog (README: GPU catalog), or leave it unset to choose the cheapest fit."
              : "Pick a type that meets the minimums, lower them, or leave instance.type unset.",
          ),
        );
      } else {
        instanceType = type;
        reason = `explicit devbox:instance.type ${type.name}: ${type.gpuCount} x ${GPU_INFO[type.gpuModel].label}, ${type.memoryGiB} GiB RAM, $${type.hourlyUsd.toFixed(2)}/h`;
      }
    } else {
      const selection = selectInstanceType(req);
      if (selection === undefined) {
        problems.push(
          problemLine(
            "gpu",
            `no catalog type has ${req.gpuCount}+ x ${req.gpuModel ?? "GPU"} with >= ${req.minGpuMemoryGiB} GiB each and >= ${req.minRamGiB} GiB RAM offered in ${regionName}`,
            JSON.stringify({ preset, ...(raw.gpu as object | undefined) }),
            "Lower gpu.count or the minimums, choose another gpu.model, or another region.",
          ),
        );
      } else {
        instanceType = selection.type;
        reason = selection.reason;
      }
    }
    if (instanceType) {
      gpu = {
        model: instanceType.gpuModel,
        count: instanceType.gpuCount,
        memoryGiB: gpuMemoryGiB(instanceType.gpuModel),
      };
    }
  } else if (settings.target === "ssh") {
    reason = `your own host ${settings.host.address}: no AWS resources are created`;
    const model = settings.gpu.model ?? (preset ? PRESETS[preset].gpuModel : undefined);
    if (model) {
      gpu = {
        model,
        count: settings.gpu.count ?? (preset ? PRESETS[preset].gpuCount : 1),
        memoryGiB: gpuMemoryGiB(model),
      };
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    stack,
    region: regionName,
    partition: partitionOf(regionName),
    settings,
    preset,
    instanceType,
    reason,
    gpu,
    warnings: warningsFor(settings, regionName, instanceType),
  };
}
