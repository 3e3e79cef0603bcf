/**
 * The one schema for every `devbox:` setting. Types come from it (`z.infer`), the README's
 * configuration reference is generated from it (scripts/gen-config-docs.ts), and every value a
 * stack gives is checked against it before anything is created.
 *
 * Messages that carry their own advice are written "<problem>||<what to do>"; the formatter in
 * errors.ts splits them into `devbox:<path>: <problem> (got <value>). <what to do>`.
 */
import { z } from "zod";
import { GPU_MODELS } from "../catalog";
import { PRESET_NAMES } from "../presets";

/**
 * Releases whose installer SHA-256 has been checked against ContinuumIO's own Dockerfiles.
 * There is no Anaconda3-2023.11: tutorials that name it point at a file that never existed.
 */
export const ANACONDA_RELEASES = {
  "2023.09-0": "6c8a4abb36fbb711dc055b7049a23bbfd61d356de9468b41c5140f8a11abd851",
  "2024.02-1": "c536ddb7b4ba738bddbd4e581b29308cb332fa12ae3fa2cd66814bd735dff231",
  "2024.06-1": "539bb43d9a52d758d0fdfa1b1b049920ec6f8c6d15ee9fe4a423355fe551a8f7",
} as const;
export type AnacondaRelease = keyof typeof ANACONDA_RELEASES;

/**
 * PyTorch releases that have CUDA 11.8 wheels, with their matching torchvision and torchaudio.
 * 2.7 is the last line built for cu118; 2.8 and later dropped it.
 */
export const PYTORCH_CU118 = {
  "2.7.1": { torchvision: "0.22.1", torchaudio: "2.7.1" },
  "2.7.0": { torchvision: "0.22.0", torchaudio: "2.7.0" },
  "2.6.0": { torchvision: "0.21.0", torchaudio: "2.6.0" },
  "2.5.1": { torchvision: "0.20.1", torchaudio: "2.5.1" },
  "2.4.1": { torchvision: "0.19.1", torchaudio: "2.4.1" },
} as const;
export type PytorchVersion = keyof typeof PYTORCH_CU118;

export const MIRROR_SOURCES = [
  "apt",
  "pypi",
  "pytorch",
  "conda",
  "anaconda",
  "huggingface",
  "nvidia",
] as const;
export type MirrorSource = (typeof MIRROR_SOURCES)[number];

/** Pulumi hands top-level scalars to the program as strings: accept "8" where 8 is meant. */
function numeric(schema: z.ZodType<number>) {
  return z.preprocess(
    (v) => (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v),
    schema,
  );
}

function boolean() {
  return z.preprocess(
    (v) => (v === "true" ? true : v === "false" ? false : v),
    z.boolean({ error: "must be true or false||Write true or false, without quotes." }),
  );
}

/** A whole number in [min, max]; `unit` ("GiB", "minutes") goes into the messages. */
const int = (min: number, max: number, unit = "") => {
  const u = unit ? ` ${unit}` : "";
  return numeric(
    z
      .number({
        error: `must be a whole number${u ? ` of${u}` : ""}||Give a number, such as ${min}.`,
      })
      .int({ error: `must be a whole number${u ? ` of${u}` : ""}||Drop the fraction.` })
      .min(min, { error: `must be at least ${min}${u}||Raise it to ${min} or more.` })
      .max(max, { error: `must be at most ${max}${u}||Lower it to ${max} or less.` }),
  );
};

const URL_RE = /^https?:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[A-Za-z0-9._~%/+-]*)?$/;
const mirrorUrl = z.string().regex(URL_RE, {
  error: "must be an http(s) URL||Give a URL such as https://mirror.example/path.",
});
const mirrorList = z
  .union([mirrorUrl.transform((u) => [u]), z.array(mirrorUrl).min(1)], {
    error: "must be a URL or a list of URLs||Give one URL, or a list tried in order.",
  })
  .optional();

/** IPv4 or IPv6 CIDR: each octet checked, the prefix length too. */
export function isCidr(value: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (v4) {
    return v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32;
  }
  const v6 = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(value);
  return v6 !== null && v6[1].includes(":") && Number(v6[2]) <= 128;
}

export const WORLD_CIDRS = ["0.0.0.0/0", "::/0"];

const cidr = z.string().refine(isCidr, {
  error: "is not a CIDR range||Write address/prefix, such as 203.0.113.7/32 for one address.",
});

const PUBLIC_KEY_RE =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/;

const gpu = z
  .strictObject({
    model: z
      .enum(GPU_MODELS, { error: `is not a known GPU||Use one of: ${GPU_MODELS.join(", ")}.` })
      .optional()
      .describe(
        "GPU model. Default: the preset's, else the cheapest model that meets the minimums. " +
          "`a10g` is the closest AWS has to an RTX card (AWS rents no GeForce RTX).",
      ),
    count: int(1, 8, "GPUs")
      .optional()
      .describe("Minimum number of GPUs. Default: the preset's, else 1."),
    minMemoryGiB: int(1, 80, "GiB")
      .default(16)
      .describe("Minimum memory per GPU, in GiB. Default 16 (what 7B-parameter work needs)."),
  })
  .prefault({})
  .describe("Which GPUs the box gets.");

const instance = z
  .strictObject({
    type: z
      .string()
      .regex(/^[a-z0-9]+\.[a-z0-9]+$/, {
        error: "is not an EC2 instance type||Write it like g5.4xlarge.",
      })
      .optional()
      .describe(
        "Explicit EC2 type, checked against the catalog and the minimums. Default: the cheapest fit.",
      ),
    minRamGiB: int(1, 2048, "GiB").default(64).describe("Minimum RAM, in GiB. Default 64."),
    spot: boolean()
      .default(false)
      .describe("Run as a spot instance (cheaper, can be reclaimed). Default false."),
  })
  .prefault({})
  .describe("The EC2 instance.");

const os = z
  .strictObject({
    release: z
      .enum(["ubuntu-20.04", "ubuntu-22.04"], {
        error: "is not a supported release||Use ubuntu-20.04 or ubuntu-22.04.",
      })
      .default("ubuntu-20.04")
      .describe(
        "Ubuntu release. Default ubuntu-20.04 (standard support ended May 2025, ESM to 2030); " +
          "ubuntu-22.04 is the maintained choice.",
      ),
    amiId: z
      .string()
      .regex(/^ami-[0-9a-f]{8,17}$/, {
        error: "is not an AMI ID||Write it like ami-0abc1234def567890.",
      })
      .optional()
      .describe("Explicit AMI ID; wins over the Canonical image lookup. Default: none."),
  })
  .prefault({})
  .describe("The operating system image.");

const rootVolume = z
  .strictObject({
    sizeGiB: int(60, 2048, "GiB")
      .default(100)
      .describe("Encrypted gp3 root volume size, in GiB. Default 100 (driver, CUDA, Anaconda)."),
  })
  .prefault({})
  .describe("The root volume.");

const dataVolume = z
  .strictObject({
    sizeGiB: int(1, 16384, "GiB")
      .default(500)
      .describe("Encrypted gp3 data volume size, in GiB. Default 500."),
    iops: int(3000, 16000, "IOPS")
      .default(3000)
      .describe("gp3 IOPS. Default 3000 (the free baseline)."),
    throughputMiBps: int(125, 1000, "MiB/s")
      .default(125)
      .describe("gp3 throughput, in MiB/s. Default 125 (the free baseline)."),
    keepAfterDestroy: boolean()
      .default(false)
      .describe("Keep the data volume when the stack is destroyed. Default false."),
    mountPoint: z
      .string()
      .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "is not an absolute path||Write it like /data." })
      .default("/data")
      .describe("Where the data volume is mounted. Default /data."),
    filesystem: z
      .enum(["xfs", "ext4"], { error: "is not a supported filesystem||Use xfs or ext4." })
      .default("xfs")
      .describe(
        "Filesystem made on a blank data volume (never on one that has data). Default xfs.",
      ),
  })
  .prefault({})
  .describe("The separate data volume that holds datasets, caches and work.");

const network = z
  .strictObject({
    subnetId: z
      .string()
      .regex(/^subnet-[0-9a-f]{8,17}$/, {
        error: "is not a subnet ID||Write it like subnet-0abc1234.",
      })
      .optional()
      .describe("Subnet to launch in. Default: a default-VPC subnet in a zone offering the type."),
  })
  .prefault({})
  .describe("Where the box is placed.");

const ssh = z
  .strictObject({
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
        error: "is not a Linux user name||Use lower case, like ubuntu.",
      })
      .default("ubuntu")
      .describe("Login user. Default ubuntu."),
    port: int(1, 65535, "")
      .default(22)
      .describe(
        "SSH port the security group opens and verification dials. Default 22; the setup does " +
          "not move sshd, so another port needs an image whose sshd listens there.",
      ),
    publicKeys: z
      .array(
        z.string().regex(PUBLIC_KEY_RE, {
          error: "is not an OpenSSH public key||Paste one line of ~/.ssh/id_ed25519.pub.",
        }),
      )
      .default([])
      .describe("OpenSSH public keys allowed to log in. Default: none."),
    allowedCidrs: z
      .array(cidr)
      .default([])
      .describe(
        "Ranges allowed to reach SSH, e.g. 203.0.113.7/32. Default: none (no inbound rule).",
      ),
    allowFromAnywhere: boolean()
      .default(false)
      .describe(
        "Allow 0.0.0.0/0 or ::/0 in allowedCidrs. Default false; the plan warns when true.",
      ),
    privateKey: z
      .string()
      .min(1, {
        error: "is empty||Set it with: pulumi config set --secret --path devbox:ssh.privateKey",
      })
      .optional()
      .describe("Private key used by verification (a secret). Default: use the SSH agent."),
  })
  .prefault({})
  .describe("SSH access to the box.");

const mirrors = z
  .strictObject({
    profile: z
      .enum(["cn", "global"], {
        error: "is not a mirror profile||Use cn (mainland China) or global.",
      })
      .default("global")
      .describe("Download sources: cn (TUNA, Aliyun, USTC, hf-mirror) or global. Default global."),
    apt: mirrorList.describe(
      "Ubuntu archive: a URL or an ordered fallback list. Default: the profile's.",
    ),
    pypi: mirrorList.describe(
      "pip index: a URL or an ordered fallback list. Default: the profile's.",
    ),
    pytorch: mirrorList.describe(
      "PyTorch cu118 wheel source (index or flat listing). Default: the profile's.",
    ),
    conda: mirrorList.describe("conda channel mirror base. Default: the profile's."),
    anaconda: mirrorList.describe("Anaconda installer archive. Default: the profile's."),
    huggingface: mirrorList.describe("HF_ENDPOINT candidates. Default: the profile's."),
    nvidia: mirrorList.describe("NVIDIA CUDA apt repository host. Default: the profile's."),
  })
  .prefault({})
  .describe("Where every download comes from.");

const software = z
  .strictObject({
    python: z
      .enum(["3.9", "3.10", "3.11", "3.12"], {
        error: "is not a supported Python||Use 3.10 (or 3.9, 3.11, 3.12).",
      })
      .default("3.10")
      .describe("Python in the conda env. Default 3.10."),
    cuda: z
      .literal("11.8", {
        error: "is not supported||The kit builds CUDA 11.8 boxes only; use 11.8.",
      })
      .default("11.8")
      .describe("CUDA toolkit. Default 11.8 (the only one the kit supports)."),
    pytorch: z
      .enum(Object.keys(PYTORCH_CU118) as [PytorchVersion, ...PytorchVersion[]], {
        error: `has no CUDA 11.8 wheels||Use one of ${Object.keys(PYTORCH_CU118).join(", ")}; 2.7 is the last cu118 line.`,
      })
      .default("2.7.1")
      .describe(
        "PyTorch version, cu118 build. Default 2.7.1 (2.7 is the last line with cu118 wheels).",
      ),
    condaEnv: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, {
        error: "is not a conda env name||Use letters, digits, _ . -.",
      })
      .default("large_model_env")
      .describe("Conda environment name. Default large_model_env."),
    anaconda: z
      .enum(Object.keys(ANACONDA_RELEASES) as [AnacondaRelease, ...AnacondaRelease[]], {
        error: `is not a release with a verified checksum||Use one of ${Object.keys(ANACONDA_RELEASES).join(", ")} (there is no 2023.11).`,
      })
      .default("2024.02-1")
      .describe("Anaconda release, SHA-256 checked before it runs. Default 2024.02-1."),
    extraPipPackages: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?([<>=!~]=?[A-Za-z0-9.*+-]+(,[<>=!~]=?[A-Za-z0-9.*+-]+)*)?$/,
            {
              error: "is not a pip requirement||Write it like peft==0.11.1 or accelerate>=0.30.",
            },
          ),
      )
      .default([])
      .describe("Extra pip packages for the env. Default: none."),
  })
  .prefault({})
  .describe("What the boot-time setup installs.");

const jupyter = z
  .strictObject({
    enabled: boolean()
      .default(true)
      .describe("Run Jupyter on 127.0.0.1 as a service. Default true."),
    port: int(1024, 65535, "").default(8888).describe("Jupyter's port on the box. Default 8888."),
  })
  .prefault({})
  .describe("Jupyter, reachable only through an SSH tunnel.");

const autostop = z
  .strictObject({
    idleMinutes: int(0, 10080, "minutes")
      .default(60)
      .describe("Stop after this many idle minutes; 0 disables. Default 60."),
    action: z
      .enum(["stop", "terminate"], { error: "is not an action||Use stop or terminate." })
      .default("stop")
      .describe(
        "What an idle box does: stop (volumes kept, no GPU bill) or terminate. Default stop.",
      ),
    gpuBusyPercent: int(1, 100, "percent")
      .default(10)
      .describe("GPU utilisation at or above which the box counts as busy. Default 10."),
  })
  .prefault({})
  .describe("Idle auto-stop on an AWS box (never on your own host).");

const verify = z
  .strictObject({
    enabled: boolean()
      .default(true)
      .describe("Run the on-box check at the end of pulumi up. Default true."),
    timeoutMinutes: int(5, 240, "minutes")
      .default(60)
      .describe("How long to wait for setup and the check. Default 60."),
    model: z
      .string()
      .regex(/^[A-Za-z0-9_./-]+$/, {
        error: "is not a model ID or path||Write it like bert-base-uncased.",
      })
      .default("bert-base-uncased")
      .describe("Model the check loads. Default bert-base-uncased."),
  })
  .prefault({})
  .describe("Verification after setup.");

const host = z
  .strictObject({
    address: z
      .string()
      .regex(/^[A-Za-z0-9.:-]+$/, {
        error: "is not a host name or address||Write it like 192.0.2.10.",
      })
      .optional()
      .describe("Address of your own host (target ssh). Default: none."),
    port: int(1, 65535, "").default(22).describe("SSH port of your own host. Default 22."),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
        error: "is not a Linux user name||Use lower case, like ubuntu.",
      })
      .default("ubuntu")
      .describe("User with sudo on your own host. Default ubuntu."),
  })
  .prefault({})
  .describe("Your own Ubuntu host, used when target is ssh.");

/** Every key under `devbox:`. Unknown keys are errors (with a did-you-mean). */
export const settingsSchema = z
  .strictObject({
    preset: z
      .enum(PRESET_NAMES as [string, ...string[]], {
        error: `is not a preset||Use one of: ${PRESET_NAMES.join(", ")}.`,
      })
      .optional()
      .describe(`Starting point: ${PRESET_NAMES.join(", ")}. Default: none.`),
    target: z
      .enum(["aws", "ssh"], { error: "is not a target||Use aws, or ssh for your own host." })
      .default("aws")
      .describe("aws creates a box; ssh sets up your own host (devbox:host). Default aws."),
    owner: z
      .string()
      .regex(/^[A-Za-z0-9._@+-]{1,64}$/, {
        error: "is not a valid owner||Use a user name or e-mail.",
      })
      .optional()
      .describe("Who the box belongs to (tag devbox:owner). Default: none; the plan warns."),
    team: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, {
        error: "is not a valid team||Use letters, digits, . _ -.",
      })
      .default("default")
      .describe("Team tag (devbox:team). Default default."),
    // Whole hours: the box's TTL timer does integer arithmetic on it.
    ttlHours: int(0, 720, "hours")
      .default(0)
      .describe("Hard time-to-live in hours: an AWS box shuts down at expiry. Default 0 (none)."),
    gpu,
    instance,
    os,
    rootVolume,
    dataVolume,
    network,
    ssh,
    mirrors,
    software,
    jupyter,
    autostop,
    verify,
    host,
  })
  .superRefine((s, ctx) => {
    const world = s.ssh.allowedCidrs.filter((c) => WORLD_CIDRS.includes(c));
    if (world.length > 0 && !s.ssh.allowFromAnywhere) {
      ctx.addIssue({
        code: "custom",
        path: ["ssh", "allowedCidrs"],
        message:
          `opens SSH to the whole internet||Use your own range (e.g. your office /24), ` +
          `or set devbox:ssh.allowFromAnywhere: true if you really mean ${world.join(" and ")}.`,
      });
    }
    // gp3 allows at most 0.25 MiB/s of throughput per provisioned IOPS, and 500 IOPS per GiB.
    const vol = s.dataVolume;
    // Cross-field rules only make sense once each field is valid on its own.
    const within = (n: unknown, lo: number, hi: number) =>
      typeof n === "number" && Number.isInteger(n) && n >= lo && n <= hi;
    const volumeValid =
      within(vol.sizeGiB, 1, 16384) &&
      within(vol.iops, 3000, 16000) &&
      within(vol.throughputMiBps, 125, 1000);
    if (volumeValid && vol.throughputMiBps > vol.iops / 4) {
      ctx.addIssue({
        code: "custom",
        path: ["dataVolume", "throughputMiBps"],
        input: vol.throughputMiBps,
        message: `exceeds gp3's limit of iops/4 = ${s.dataVolume.iops / 4} MiB/s||Raise dataVolume.iops to at least ${s.dataVolume.throughputMiBps * 4}, or lower the throughput.`,
      });
    }
    if (volumeValid && vol.iops > vol.sizeGiB * 500) {
      ctx.addIssue({
        code: "custom",
        path: ["dataVolume", "iops"],
        input: vol.iops,
        message: `exceeds gp3's 500 IOPS per GiB for a ${s.dataVolume.sizeGiB} GiB volume||Raise dataVolume.sizeGiB to ${Math.ceil(s.dataVolume.iops / 500)} or lower the IOPS.`,
      });
    }
    if (s.target === "ssh" && s.host.address === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["host", "address"],
        message:
          "is required when devbox:target is ssh||Set devbox:host.address to your host's address.",
      });
    }
  });

export type Settings = z.output<typeof settingsSchema>;
export type SettingsInput = z.input<typeof settingsSchema>;
