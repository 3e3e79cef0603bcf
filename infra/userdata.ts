/**
 * Renders the box's user-data: one `#cloud-config` document, built as data and serialised with
 * the `yaml` package, that writes the settings file and every script of cloud-init/ onto the
 * box, adds the extra SSH keys, and starts devbox-setup.service.
 *
 * EC2 accepts at most 16,384 bytes of user-data (before base64). The document is gzipped
 * (cloud-init unpacks it) and refused with an error naming its size when even that is too big.
 * To save bytes, whole-line comments and blank lines are stripped from shell scripts; the
 * shebang, `# shellcheck` directives and heredoc bodies are kept verbatim.
 *
 * Nothing secret is rendered: the settings hold no secret by construction (devbox:ssh.privateKey
 * is never read here), and the Jupyter token is made on the box.
 */
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import YAML from "yaml";
import { GPU_INFO, GpuModel, InstanceType } from "./catalog";
import { ANACONDA_RELEASES, PYTORCH_CU118, Settings } from "./config/schema";
import { mirrorsFor } from "./mirrors";
import { shellQuote } from "./shell";

/** EC2's limit on user-data, in bytes, before base64. */
export const USER_DATA_LIMIT_BYTES = 16384;
/** The NVIDIA data-centre driver branch: 535 runs CUDA 11.8 code (which needs >= 520.61.05). */
export const DRIVER_BRANCH = "535";
export const CONDA_PREFIX = "/opt/anaconda3";
/** Where local NVMe instance storage is mounted, on types that have it. */
export const SCRATCH_MOUNT = "/scratch";
/** The repository's cloud-init/ folder: lib/, steps/, bin/ and systemd/ go onto the box. */
export const CLOUD_INIT_DIR = path.resolve(__dirname, "..", "cloud-init");

const ENV_FILE = "/etc/devbox/devbox.env";
const SETUP_UNIT = "devbox-setup.service";

/**
 * Programs that nothing runs at boot: the verification (and `devbox status`) run them over SSH.
 * They are left out of user-data because everything in cloud-init/ does not fit: gzipped, the
 * boot-time files alone take most of EC2's 16,384 bytes, and these two add about 8,000 more.
 * Whoever runs them over SSH must bring them (see `verificationFiles`).
 */
export const NOT_IN_USER_DATA: readonly string[] = ["bin/devbox-verify", "bin/devbox-wait"];

/**
 * Where each folder of cloud-init/ goes on the box (cloud-init/README.md). Unit files go to
 * /opt/devbox/systemd; the setup unit is copied to /etc/systemd/system by runcmd, and step
 * 05-lifecycle installs the lifecycle units itself.
 */
const FOLDERS: readonly { dir: string; target: string; permissions: string }[] = [
  { dir: "lib", target: "/opt/devbox/lib", permissions: "0644" },
  { dir: "steps", target: "/opt/devbox/steps", permissions: "0755" },
  { dir: "bin", target: "/opt/devbox/bin", permissions: "0755" },
  { dir: "systemd", target: "/opt/devbox/systemd", permissions: "0644" },
];

/** Thrown before anything is created; as a RunError, `pulumi up` shows it without a stack trace. */
export class UserDataTooLargeError extends pulumi.RunError {}

/** What the renderer needs from the resolved config (infra/config/load.ts). */
export interface UserDataConfig {
  readonly settings: Settings;
  readonly instanceType?: InstanceType;
  readonly gpu?: { readonly model: GpuModel; readonly count: number };
}

export interface UserDataFile {
  /** Where the file goes on the box. */
  readonly path: string;
  readonly content: string;
  /** A string, as cloud-init requires ("0644"). */
  readonly permissions: string;
  /** Its path under cloud-init/, when it comes from there. */
  readonly source?: string;
}

export interface RenderedUserData {
  /** The #cloud-config document, for review (the plan writes it to user-data.yaml). */
  readonly yaml: string;
  /** What EC2 gets: gzip level 9, base64. */
  readonly gzipBase64: string;
  readonly bytes: number;
  readonly compressedBytes: number;
  readonly limitBytes: number;
  /** SHA-256 of the document: a short stand-in for it in triggers and state. */
  readonly sha256: string;
  /** Every file written on the box, as written. */
  readonly files: readonly UserDataFile[];
}

export interface RenderOptions {
  /** Another cloud-init/ folder (tests). */
  readonly cloudInitDir?: string;
  /** Files added to write_files (tests use it to push the document over the limit). */
  readonly extraFiles?: readonly UserDataFile[];
  /**
   * Refuse a document over EC2's limit. Default true; a bring-your-own host gets the files
   * over SSH, where the limit does not apply.
   */
  readonly enforceLimit?: boolean;
}

/** The settings file's entries, in a fixed order (cloud-init/README.md lists each). */
export function devboxEnv(cfg: UserDataConfig, dataVolumeId: string): [string, string][] {
  const s = cfg.settings;
  const t = cfg.instanceType;
  const model = t?.gpuModel ?? cfg.gpu?.model ?? s.gpu.model;
  const mirrors = mirrorsFor(s);
  const torch = PYTORCH_CU118[s.software.pytorch];
  const flag = (b: boolean) => (b ? "1" : "0");
  return [
    ["DEVBOX_USER", s.target === "ssh" ? s.host.user : s.ssh.user],
    ["DEVBOX_MIRROR_PROFILE", s.mirrors.profile],
    ["DEVBOX_APT_MIRRORS", mirrors.apt.join(" ")],
    ["DEVBOX_PYPI_MIRRORS", mirrors.pypi.join(" ")],
    ["DEVBOX_PYTORCH_MIRRORS", mirrors.pytorch.join(" ")],
    ["DEVBOX_CONDA_MIRRORS", mirrors.conda.join(" ")],
    ["DEVBOX_ANACONDA_MIRRORS", mirrors.anaconda.join(" ")],
    ["DEVBOX_HF_MIRRORS", mirrors.huggingface.join(" ")],
    ["DEVBOX_NVIDIA_MIRRORS", mirrors.nvidia.join(" ")],
    ["DEVBOX_DATA_VOLUME_ID", dataVolumeId],
    ["DEVBOX_DATA_MOUNT", s.dataVolume.mountPoint],
    ["DEVBOX_DATA_FS", s.dataVolume.filesystem],
    ["DEVBOX_SCRATCH_MOUNT", t !== undefined && t.localNvmeGB > 0 ? SCRATCH_MOUNT : ""],
    ["DEVBOX_GPU_MODEL", model ?? ""],
    ["DEVBOX_GPU_NAME", model ? GPU_INFO[model].smiName : ""],
    ["DEVBOX_GPU_COUNT", String(t?.gpuCount ?? cfg.gpu?.count ?? s.gpu.count ?? 1)],
    ["DEVBOX_NVSWITCH", flag(t?.nvswitch ?? false)],
    ["DEVBOX_BF16", flag(model ? GPU_INFO[model].bf16 : false)],
    ["DEVBOX_DRIVER_BRANCH", DRIVER_BRANCH],
    ["DEVBOX_CUDA_VERSION", s.software.cuda],
    ["DEVBOX_ANACONDA_RELEASE", s.software.anaconda],
    ["DEVBOX_ANACONDA_SHA256", ANACONDA_RELEASES[s.software.anaconda]],
    ["DEVBOX_CONDA_PREFIX", CONDA_PREFIX],
    ["DEVBOX_CONDA_ENV", s.software.condaEnv],
    ["DEVBOX_PYTHON_VERSION", s.software.python],
    ["DEVBOX_TORCH_VERSION", s.software.pytorch],
    ["DEVBOX_TORCHVISION_VERSION", torch.torchvision],
    ["DEVBOX_TORCHAUDIO_VERSION", torch.torchaudio],
    ["DEVBOX_EXTRA_PIP", s.software.extraPipPackages.join(" ")],
    ["DEVBOX_JUPYTER_ENABLED", flag(s.jupyter.enabled)],
    ["DEVBOX_JUPYTER_PORT", String(s.jupyter.port)],
    // Auto-stop and TTL power the machine off: right for a rented box, never for someone's own
    // workstation (target ssh), which bills nobody by the hour.
    ["DEVBOX_AUTOSTOP_MINUTES", s.target === "aws" ? String(s.autostop.idleMinutes) : "0"],
    ["DEVBOX_AUTOSTOP_ACTION", s.autostop.action],
    ["DEVBOX_GPU_BUSY_PERCENT", String(s.autostop.gpuBusyPercent)],
    ["DEVBOX_TTL_HOURS", s.target === "aws" ? String(s.ttlHours) : "0"],
    ["DEVBOX_VERIFY_MODEL", s.verify.model],
  ];
}

/** The settings file: one KEY='value' line each, sourced by every script on the box. */
export function renderEnvFile(entries: readonly [string, string][]): string {
  const lines = entries.map(([k, v]) => {
    if (!/^[A-Z][A-Z0-9_]*$/.test(k)) throw new Error(`devbox.env: ${k} is not a variable name`);
    if (/[\n\r\0]/.test(v)) throw new Error(`devbox.env: ${k} holds a line break or NUL`);
    return `${k}=${shellQuote(v, true)}`;
  });
  return ["# llm-devbox settings, rendered by infra/userdata.ts", ...lines, ""].join("\n");
}

const HEREDOC_RE = /<<(-?)\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/;

/**
 * Drops whole-line comments and blank lines from a shell script. Kept: the shebang, `#
 * shellcheck` directives, and heredoc bodies (copied verbatim up to their terminator, since a
 * `#` line there is data). A here-string (`<<<`) is not a heredoc.
 *
 * Known limit: a quoted string spanning several lines, with a line inside it that starts with
 * `#` or is blank, would lose that line; the scripts keep their strings on one line.
 */
export function stripShellComments(text: string): string {
  const out: string[] = [];
  let heredoc: { word: string; tabs: boolean } | undefined;
  text.split("\n").forEach((line, i) => {
    if (heredoc !== undefined) {
      out.push(line);
      const body = heredoc.tabs ? line.replace(/^\t+/, "") : line;
      if (body === heredoc.word) heredoc = undefined;
      return;
    }
    const trimmed = line.trim();
    if (i === 0 && line.startsWith("#!")) {
      out.push(line);
      return;
    }
    if (trimmed === "") return;
    if (trimmed.startsWith("#") && !/^#\s*shellcheck\s/.test(trimmed)) return;
    out.push(line);
    const m = HEREDOC_RE.exec(line.replace(/<<</g, "   "));
    if (m) heredoc = { word: m[3], tabs: m[1] === "-" };
  });
  return out.join("\n") + "\n";
}

/**
 * Drops whole-line comments (`#` or `;`) and blank lines from a systemd unit: systemd reads
 * only whole-line comments, so what is left means exactly the same.
 */
export function stripUnitComments(text: string): string {
  const kept = text.split("\n").filter((line) => !/^\s*([#;].*)?$/.test(line));
  return kept.join("\n") + "\n";
}

function isShellScript(text: string): boolean {
  const first = text.split("\n", 1)[0];
  return /^#!.*(\/|env\s+)(ba)?sh(\s|$)/.test(first);
}

/**
 * Every file of lib/, steps/, bin/ and systemd/, sorted by name within each folder, as it is
 * written on the box.
 */
export function cloudInitFiles(dir: string = CLOUD_INIT_DIR): UserDataFile[] {
  const files: UserDataFile[] = [];
  for (const folder of FOLDERS) {
    const src = path.join(dir, folder.dir);
    if (!fs.existsSync(src)) continue;
    const names = fs
      .readdirSync(src, { withFileTypes: true })
      .filter((e) => e.isFile() && !e.name.startsWith("."))
      .map((e) => e.name)
      .sort();
    for (const name of names) {
      const raw = fs.readFileSync(path.join(src, name), "utf8");
      files.push({
        path: `${folder.target}/${name}`,
        content: isShellScript(raw)
          ? stripShellComments(raw)
          : folder.dir === "systemd"
            ? stripUnitComments(raw)
            : raw,
        permissions: folder.permissions,
        source: `${folder.dir}/${name}`,
      });
    }
  }
  return files;
}

/** The files of NOT_IN_USER_DATA, for the command that runs them over SSH to put in place. */
export function verificationFiles(dir: string = CLOUD_INIT_DIR): UserDataFile[] {
  return cloudInitFiles(dir).filter((f) => NOT_IN_USER_DATA.includes(f.source ?? ""));
}

/** The extra SSH keys: the first key is the EC2 key pair's, so it is not repeated here. */
function sshEntries(settings: Settings): Record<string, unknown> {
  const extra = settings.ssh.publicKeys.slice(1);
  if (settings.ssh.user === "ubuntu") {
    return extra.length > 0 ? { ssh_authorized_keys: extra } : {};
  }
  // The key pair goes to the image's default user only: another login user gets every key.
  return {
    users: [
      "default",
      {
        name: settings.ssh.user,
        shell: "/bin/bash",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
        ...(settings.ssh.publicKeys.length > 0
          ? { ssh_authorized_keys: [...settings.ssh.publicKeys] }
          : {}),
      },
    ],
  };
}

/**
 * Renders the user-data for a box. Throws when the gzipped document exceeds EC2's limit.
 * `dataVolumeId` is a plain string: the caller applies this inside the volume ID's Output.
 */
export function renderUserData(
  cfg: UserDataConfig,
  dataVolumeId: string,
  options: RenderOptions = {},
): RenderedUserData {
  const env: UserDataFile = {
    path: ENV_FILE,
    content: renderEnvFile(devboxEnv(cfg, dataVolumeId)),
    // No secret is in it, and devbox-verify and devbox-wait read it as the login user.
    permissions: "0644",
  };
  const boot = cloudInitFiles(options.cloudInitDir).filter(
    (f) => !NOT_IN_USER_DATA.includes(f.source ?? ""),
  );
  const files = [env, ...boot, ...(options.extraFiles ?? [])];
  const doc = {
    write_files: files.map((f) => ({
      path: f.path,
      owner: "root:root",
      permissions: f.permissions,
      content: f.content,
    })),
    ...sshEntries(cfg.settings),
    // --no-block: the setup unit is ordered after cloud-final, which is running this runcmd;
    // a blocking start would wait for itself.
    runcmd: [
      ["install", "-m", "0644", `/opt/devbox/systemd/${SETUP_UNIT}`, `/etc/systemd/system/`],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", SETUP_UNIT],
      ["systemctl", "start", "--no-block", SETUP_UNIT],
    ],
  };
  const yaml = "#cloud-config\n" + YAML.stringify(doc, { lineWidth: 0 });
  const raw = Buffer.from(yaml, "utf8");
  const gz = zlib.gzipSync(raw, { level: 9 });
  if (gz.length > USER_DATA_LIMIT_BYTES && options.enforceLimit !== false) {
    throw new UserDataTooLargeError(
      `user-data is ${gz.length} bytes gzipped (${raw.length} bytes raw), over EC2's ` +
        `${USER_DATA_LIMIT_BYTES}-byte limit. Shorten devbox:software.extraPipPackages, or move ` +
        `large files out of cloud-init/.`,
    );
  }
  return {
    yaml,
    gzipBase64: gz.toString("base64"),
    bytes: raw.length,
    compressedBytes: gz.length,
    limitBytes: USER_DATA_LIMIT_BYTES,
    sha256: crypto.createHash("sha256").update(raw).digest("hex"),
    files,
  };
}
