import {
  CATALOG,
  explainExplicitType,
  findInstanceType,
  GPU_MODELS,
  partitionOf,
  Requirements,
  selectInstanceType,
} from "../infra/catalog";
import { PRESETS, PresetName } from "../infra/presets";

const base = { minGpuMemoryGiB: 16, minRamGiB: 64, region: "us-east-1" };

function pick(req: Partial<Requirements>): string | undefined {
  return selectInstanceType({ ...base, gpuCount: 1, ...req })?.type.name;
}

describe("selectInstanceType", () => {
  it.each<[PresetName, string]>([
    ["a100", "p4d.24xlarge"],
    ["a100-80gb", "p4de.24xlarge"],
    ["rtx", "g5.4xlarge"],
    ["l4", "g6.4xlarge"],
    ["l40s", "g6e.2xlarge"],
    ["t4", "g4dn.4xlarge"],
  ])("gives preset %s the type %s", (preset, expected) => {
    const p = PRESETS[preset];
    expect(pick({ gpuModel: p.gpuModel, gpuCount: p.gpuCount })).toBe(expected);
  });

  it.each<[string, Partial<Requirements>, string | undefined]>([
    ["rtx with 4 GPUs", { gpuModel: "a10g", gpuCount: 4 }, "g5.12xlarge"],
    ["rtx with 5 GPUs", { gpuModel: "a10g", gpuCount: 5 }, "g5.48xlarge"],
    ["rtx with 8 GPUs", { gpuModel: "a10g", gpuCount: 8 }, "g5.48xlarge"],
    ["rtx with 9 GPUs", { gpuModel: "a10g", gpuCount: 9 }, undefined],
    ["t4 with 4 GPUs", { gpuModel: "t4", gpuCount: 4 }, "g4dn.12xlarge"],
    ["t4 with 8 GPUs", { gpuModel: "t4", gpuCount: 8 }, "g4dn.metal"],
    ["l4 with 4 GPUs", { gpuModel: "l4", gpuCount: 4 }, "g6.12xlarge"],
    ["l40s with 256 GiB RAM", { gpuModel: "l40s", minRamGiB: 256 }, "g6e.8xlarge"],
    ["rtx with 128 GiB RAM", { gpuModel: "a10g", minRamGiB: 128 }, "g5.8xlarge"],
    ["any GPU, cheapest", {}, "g4dn.4xlarge"],
    ["any GPU with 20 GiB each", { minGpuMemoryGiB: 20 }, "g6.4xlarge"],
    ["any GPU with 40 GiB each", { minGpuMemoryGiB: 40 }, "g6e.2xlarge"],
    ["any GPU with 48 GiB each", { minGpuMemoryGiB: 48 }, "p4de.24xlarge"],
    ["any GPU with 81 GiB each", { minGpuMemoryGiB: 81 }, undefined],
    ["t4 with 20 GiB each", { gpuModel: "t4", minGpuMemoryGiB: 20 }, undefined],
    ["l4 in cn-north-1", { gpuModel: "l4", region: "cn-north-1" }, undefined],
    ["a100 in cn-north-1", { gpuModel: "a100", region: "cn-north-1" }, undefined],
    ["rtx in cn-north-1", { gpuModel: "a10g", region: "cn-north-1" }, "g5.4xlarge"],
    [
      "any GPU with 20 GiB in cn-north-1",
      { minGpuMemoryGiB: 20, region: "cn-north-1" },
      "g5.4xlarge",
    ],
    ["t4 in eu-west-1", { gpuModel: "t4", region: "eu-west-1" }, "g4dn.4xlarge"],
  ])("picks for %s", (_label, req, expected) => {
    expect(pick(req)).toBe(expected);
  });

  it("says why in one line, naming the ask, the price and the runner-up", () => {
    const s = selectInstanceType({ ...base, gpuModel: "a10g", gpuCount: 4 });
    expect(s?.reason).toBe(
      "cheapest of 3 catalog type(s) with 4+ x a10g, >= 16 GiB GPU memory, >= 64 GiB RAM in " +
        "us-east-1: 4 x NVIDIA A10G 24 GB, 192 GiB RAM, $5.67/h; next cheapest g5.24xlarge at $8.14/h",
    );
    expect(s?.reason).not.toContain("\n");
  });
});

describe("explainExplicitType", () => {
  const req: Requirements = { ...base, gpuCount: 1 };
  it("accepts a catalog type that meets every minimum", () => {
    expect(explainExplicitType("g5.8xlarge", req).problems).toEqual([]);
  });
  it.each<[string, Partial<Requirements>, string]>([
    ["g5.2xlarge", {}, "is not in the kit's GPU catalog"],
    ["g5.4xlarge", { gpuCount: 2 }, "it has 1 GPU(s), fewer than gpu.count 2"],
    [
      "g4dn.4xlarge",
      { minGpuMemoryGiB: 20 },
      "its GPUs have 16 GiB each, under gpu.minMemoryGiB 20",
    ],
    ["g5.4xlarge", { minRamGiB: 128 }, "it has 64 GiB of RAM, under instance.minRamGiB 128"],
    ["g6.4xlarge", { region: "cn-north-1" }, "it is not offered in cn-north-1"],
    ["g5.4xlarge", { gpuModel: "l4" }, "its GPU is a10g, not l4"],
  ])("refuses %s when it misses a minimum", (name, extra, problem) => {
    expect(explainExplicitType(name, { ...req, ...extra }).problems).toEqual([problem]);
  });
});

describe("CATALOG", () => {
  it.each(CATALOG.map((t) => [t.name, t] as const))("%s meets the kit's floor", (_n, t) => {
    expect(t.memoryGiB).toBeGreaterThanOrEqual(64);
    expect(GPU_MODELS).toContain(t.gpuModel);
    expect(t.hourlyUsd).toBeGreaterThan(0);
    expect(t.nvswitch).toBe(t.name.startsWith("p4d"));
  });
  it("has no duplicate names", () => {
    expect(new Set(CATALOG.map((t) => t.name)).size).toBe(CATALOG.length);
  });
  it("knows the NVSwitch machines", () => {
    expect(findInstanceType("p4de.24xlarge")?.nvswitch).toBe(true);
    expect(findInstanceType("g5.48xlarge")?.nvswitch).toBe(false);
  });
  it.each([
    ["us-east-1", "aws"],
    ["cn-north-1", "aws-cn"],
    ["cn-northwest-1", "aws-cn"],
    ["us-gov-west-1", "aws-us-gov"],
  ])("puts %s in partition %s", (region, partition) => {
    expect(partitionOf(region)).toBe(partition);
  });
});
