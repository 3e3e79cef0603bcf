/**
 * The GPU instance catalog: every EC2 type the kit can create, as typed data, and the selection
 * that turns a stack's GPU wishes into one type with a reason.
 *
 * Specs are those the EC2 API publishes (as collected in karpenter-provider-aws's instance-type
 * reference). Prices are us-east-1 Linux on-demand figures from a snapshot taken on
 * PRICE_DATE; they are estimates for planning, not a bill, and other regions differ.
 */

/** The date of the on-demand price snapshot every hourly figure comes from. */
export const PRICE_DATE = "2026-07-20";
/** The region whose prices the catalog holds; estimates elsewhere are labelled as such. */
export const PRICE_REGION = "us-east-1";

/**
 * GPU models the kit knows. AWS rents no GeForce RTX cards: the A10G (Ampere GA102, the die of
 * the RTX 3090) is the closest part, and L4/L40S are Ada data-centre parts.
 */
export const GPU_MODELS = ["t4", "a10g", "l4", "l40s", "a100", "a100-80gb"] as const;
export type GpuModel = (typeof GPU_MODELS)[number];

export interface GpuModelInfo {
  /** What `nvidia-smi --query-gpu=name` prints for this part (a prefix match is enough). */
  readonly smiName: string;
  readonly label: string;
  /** Memory per GPU as the EC2 API reports it, in MiB. */
  readonly memoryMiB: number;
  /** bf16 needs compute capability 8.0 or newer (Ampere); the T4 (Turing) has none. */
  readonly bf16: boolean;
}

export const GPU_INFO: Record<GpuModel, GpuModelInfo> = {
  t4: { smiName: "Tesla T4", label: "NVIDIA T4 16 GB", memoryMiB: 16384, bf16: false },
  a10g: { smiName: "NVIDIA A10G", label: "NVIDIA A10G 24 GB", memoryMiB: 22888, bf16: true },
  l4: { smiName: "NVIDIA L4", label: "NVIDIA L4 24 GB", memoryMiB: 22888, bf16: true },
  l40s: { smiName: "NVIDIA L40S", label: "NVIDIA L40S 48 GB", memoryMiB: 45776, bf16: true },
  a100: { smiName: "NVIDIA A100", label: "NVIDIA A100 40 GB", memoryMiB: 40960, bf16: true },
  "a100-80gb": {
    smiName: "NVIDIA A100",
    label: "NVIDIA A100 80 GB",
    memoryMiB: 81920,
    bf16: true,
  },
};

export interface InstanceType {
  readonly name: string;
  readonly gpuModel: GpuModel;
  readonly gpuCount: number;
  readonly vcpu: number;
  readonly memoryGiB: number;
  /** Total local NVMe instance storage in GB (0 when the type has none). */
  readonly localNvmeGB: number;
  /** Whether the type supports Elastic Fabric Adapter. */
  readonly efa: boolean;
  /**
   * NVSwitch machines (p4d, p4de) need NVIDIA Fabric Manager at exactly the driver's version;
   * without it CUDA reports error 802 and PyTorch sees no GPU.
   */
  readonly nvswitch: boolean;
  /** us-east-1 Linux on-demand price in USD per hour, as of PRICE_DATE. */
  readonly hourlyUsd: number;
  /** Regions known not to offer the type. Absence here proves nothing: deploys check again. */
  readonly notOfferedIn: readonly string[];
}

/**
 * AWS China (cn-north-1) lists g4dn and g5 but no p4d, p4de, g6 or g6e (karpenter's cn price
 * list, 2024-11). Other regions are confirmed at deploy time with DescribeInstanceTypeOfferings.
 */
const NOT_IN_CHINA = ["cn-north-1"] as const;

type Row = [string, number, number, number, number, boolean, number];

function family(
  gpuModel: GpuModel,
  rows: Row[],
  notOfferedIn: readonly string[] = [],
): InstanceType[] {
  return rows.map(([name, gpuCount, vcpu, memoryGiB, localNvmeGB, efa, hourlyUsd]) => ({
    name,
    gpuModel,
    gpuCount,
    vcpu,
    memoryGiB,
    localNvmeGB,
    efa,
    nvswitch: false,
    hourlyUsd,
    notOfferedIn,
  }));
}

/** Every type the kit may create. Sizes under 64 GiB of RAM are left out on purpose. */
export const CATALOG: readonly InstanceType[] = [
  ...family("t4", [
    ["g4dn.4xlarge", 1, 16, 64, 225, false, 1.204],
    ["g4dn.8xlarge", 1, 32, 128, 900, true, 2.176],
    ["g4dn.12xlarge", 4, 48, 192, 900, true, 3.912],
    ["g4dn.16xlarge", 1, 64, 256, 900, true, 4.352],
    ["g4dn.metal", 8, 96, 384, 1800, true, 7.824],
  ]),
  ...family("a10g", [
    ["g5.4xlarge", 1, 16, 64, 600, false, 1.624],
    ["g5.8xlarge", 1, 32, 128, 900, true, 2.448],
    ["g5.12xlarge", 4, 48, 192, 3800, true, 5.672],
    ["g5.16xlarge", 1, 64, 256, 1900, true, 4.096],
    ["g5.24xlarge", 4, 96, 384, 3800, true, 8.144],
    ["g5.48xlarge", 8, 192, 768, 7600, true, 16.288],
  ]),
  ...family(
    "l4",
    [
      ["g6.4xlarge", 1, 16, 64, 600, false, 1.3232],
      ["g6.8xlarge", 1, 32, 128, 900, true, 2.0144],
      ["g6.12xlarge", 4, 48, 192, 3760, true, 4.6016],
      ["g6.16xlarge", 1, 64, 256, 1880, true, 3.3968],
      ["g6.24xlarge", 4, 96, 384, 3760, true, 6.6752],
      ["g6.48xlarge", 8, 192, 768, 7520, true, 13.3504],
    ],
    NOT_IN_CHINA,
  ),
  ...family(
    "l40s",
    [
      ["g6e.2xlarge", 1, 8, 64, 450, false, 2.24208],
      ["g6e.4xlarge", 1, 16, 128, 600, false, 3.00424],
      ["g6e.8xlarge", 1, 32, 256, 900, true, 4.52856],
      ["g6e.12xlarge", 4, 48, 384, 3800, true, 10.49264],
      ["g6e.16xlarge", 1, 64, 512, 1900, true, 7.57719],
      ["g6e.24xlarge", 4, 96, 768, 3800, true, 15.06559],
      ["g6e.48xlarge", 8, 192, 1536, 7600, true, 30.13118],
    ],
    NOT_IN_CHINA,
  ),
  ...family("a100", [["p4d.24xlarge", 8, 96, 1152, 8000, true, 21.957642]], NOT_IN_CHINA).map(
    (t) => ({ ...t, nvswitch: true }),
  ),
  ...family("a100-80gb", [["p4de.24xlarge", 8, 96, 1152, 8000, true, 27.44705]], NOT_IN_CHINA).map(
    (t) => ({ ...t, nvswitch: true }),
  ),
];

export function findInstanceType(name: string): InstanceType | undefined {
  return CATALOG.find((t) => t.name === name);
}

export function gpuMemoryGiB(model: GpuModel): number {
  return Math.round((GPU_INFO[model].memoryMiB / 1024) * 10) / 10;
}

/** AWS China regions live in their own partition with their own image owner and ARNs. */
export function partitionOf(region: string): "aws" | "aws-cn" | "aws-us-gov" {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

export function isOfferedIn(type: InstanceType, region: string): boolean {
  return !type.notOfferedIn.includes(region);
}

export interface Requirements {
  /** Undefined means any model that meets the memory minimum. */
  readonly gpuModel?: GpuModel;
  readonly gpuCount: number;
  readonly minGpuMemoryGiB: number;
  readonly minRamGiB: number;
  readonly region: string;
}

export interface Selection {
  readonly type: InstanceType;
  /** One line a reviewer can read: what was asked and why this type answers it. */
  readonly reason: string;
}

/** The minimums a type misses, in words; empty when it meets them all. */
export function unmetRequirements(type: InstanceType, req: Requirements): string[] {
  const missed: string[] = [];
  const memGiB = gpuMemoryGiB(type.gpuModel);
  if (req.gpuModel !== undefined && type.gpuModel !== req.gpuModel) {
    missed.push(`its GPU is ${type.gpuModel}, not ${req.gpuModel}`);
  }
  if (type.gpuCount < req.gpuCount) {
    missed.push(`it has ${type.gpuCount} GPU(s), fewer than gpu.count ${req.gpuCount}`);
  }
  if (memGiB < req.minGpuMemoryGiB) {
    missed.push(`its GPUs have ${memGiB} GiB each, under gpu.minMemoryGiB ${req.minGpuMemoryGiB}`);
  }
  if (type.memoryGiB < req.minRamGiB) {
    missed.push(`it has ${type.memoryGiB} GiB of RAM, under instance.minRamGiB ${req.minRamGiB}`);
  }
  if (!isOfferedIn(type, req.region)) {
    missed.push(`it is not offered in ${req.region}`);
  }
  return missed;
}

function describeAsk(req: Requirements): string {
  const model = req.gpuModel ?? "any GPU";
  return `${req.gpuCount}+ x ${model}, >= ${req.minGpuMemoryGiB} GiB GPU memory, >= ${req.minRamGiB} GiB RAM in ${req.region}`;
}

/**
 * The cheapest catalog type meeting every requirement, or undefined. Ties go to fewer vCPUs, so
 * that the same config always gives the same box.
 */
export function selectInstanceType(req: Requirements): Selection | undefined {
  const fits = CATALOG.filter((t) => unmetRequirements(t, req).length === 0).sort(
    (a, b) => a.hourlyUsd - b.hourlyUsd || a.vcpu - b.vcpu || a.name.localeCompare(b.name),
  );
  const best = fits[0];
  if (best === undefined) return undefined;
  const runnerUp = fits[1];
  const others = runnerUp
    ? `; next cheapest ${runnerUp.name} at $${runnerUp.hourlyUsd.toFixed(2)}/h`
    : "; the only type that fits";
  return {
    type: best,
    reason:
      `cheapest of ${fits.length} catalog type(s) with ${describeAsk(req)}: ` +
      `${best.gpuCount} x ${GPU_INFO[best.gpuModel].label}, ${best.memoryGiB} GiB RAM, ` +
      `$${best.hourlyUsd.toFixed(2)}/h${others}`,
  };
}

/** Checks an explicit `instance.type` against the catalog and the minimums. */
export function explainExplicitType(
  name: string,
  req: Requirements,
): { type?: InstanceType; problems: string[] } {
  const type = findInstanceType(name);
  if (type === undefined) return { problems: ["is not in the kit's GPU catalog"] };
  return { type, problems: unmetRequirements(type, req) };
}
