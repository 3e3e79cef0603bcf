import { GpuModel } from "./catalog";

/**
 * Named starting points. A preset sets the GPU model and count; anything the stack sets under
 * `devbox:gpu` wins over it. `rtx` is the A10G: AWS rents no GeForce RTX cards, and the A10G is
 * the same Ampere GA102 die as the RTX 3090, with 24 GB.
 */
export const PRESETS = {
  a100: { gpuModel: "a100", gpuCount: 8, note: "8 x A100 40 GB with NVSwitch (p4d.24xlarge)" },
  "a100-80gb": {
    gpuModel: "a100-80gb",
    gpuCount: 8,
    note: "8 x A100 80 GB with NVSwitch (p4de.24xlarge)",
  },
  rtx: {
    gpuModel: "a10g",
    gpuCount: 1,
    note: "A10G 24 GB: AWS rents no GeForce RTX; the A10G is the RTX 3090's GA102 die",
  },
  l4: { gpuModel: "l4", gpuCount: 1, note: "L4 24 GB (Ada), the cheapest 24 GB card on AWS" },
  l40s: { gpuModel: "l40s", gpuCount: 1, note: "L40S 48 GB (Ada)" },
  t4: { gpuModel: "t4", gpuCount: 1, note: "T4 16 GB (Turing, no bf16), the cheapest box" },
} as const satisfies Record<string, { gpuModel: GpuModel; gpuCount: number; note: string }>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
