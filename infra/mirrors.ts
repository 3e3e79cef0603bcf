/**
 * Where the boot-time setup downloads from: two profiles as data, each source an ordered list
 * that the box tries in turn (a mirror that fails is logged and the next one used), and
 * `mirrorsFor`, which applies a stack's `devbox:mirrors.<source>` overrides.
 *
 * `cn` keeps every download inside mainland China: TUNA, Aliyun, USTC, SJTU, hf-mirror.com and
 * NVIDIA's developer.download.nvidia.cn; none of its lists names an official host, so a box
 * behind the Great Firewall never waits on one. `global` uses the official hosts.
 *
 * What each source's URL means on the box (cloud-init/steps):
 * - apt: an Ubuntu archive root (`<url>/dists/<codename>/...`). An empty list keeps the image's
 *   own sources; on EC2 that is Canonical's regional mirror, the nearest official one.
 * - pypi: a PEP 503 index (`<url>/<project>/`); the first that answers goes into /etc/pip.conf.
 * - pytorch: a package index when its path has `/whl/` or ends in `/simple` (pip
 *   `--index-url`), otherwise a flat listing of wheel files (pip `--find-links`).
 * - conda: a mirror laid out like TUNA's: `<url>/pkgs/{main,r,msys2}` and `<url>/cloud/<channel>`.
 *   An empty list leaves conda on its official channels (repo.anaconda.com and
 *   conda.anaconda.org have different layouts and cannot be named by one base URL).
 * - anaconda: the installer archive (`<url>/Anaconda3-<release>-Linux-x86_64.sh`).
 * - huggingface: an HF_ENDPOINT value.
 * - nvidia: a host serving NVIDIA's `compute/cuda/repos/<distro>/x86_64/` tree.
 *
 * Known limits: developer.download.nvidia.cn, Aliyun's Anaconda archive and conda mirror, and
 * SJTU's wheel listing are seen in public scripts but not documented by their owners; SJTU has
 * been seen answering 403 on some paths. Each sits behind a better-known first choice, and the
 * installer's SHA-256 is checked whatever mirror served it.
 */
import { MIRROR_SOURCES, MirrorSource, Settings } from "./config/schema";

export type MirrorProfileName = Settings["mirrors"]["profile"];
export type MirrorLists = Readonly<Record<MirrorSource, readonly string[]>>;

export const MIRROR_PROFILES: Readonly<Record<MirrorProfileName, MirrorLists>> = {
  cn: {
    apt: [
      "https://mirrors.tuna.tsinghua.edu.cn/ubuntu",
      "https://mirrors.aliyun.com/ubuntu",
      "https://mirrors.ustc.edu.cn/ubuntu",
    ],
    pypi: [
      "https://pypi.tuna.tsinghua.edu.cn/simple",
      "https://mirrors.aliyun.com/pypi/simple/",
      "https://mirrors.ustc.edu.cn/pypi/simple",
    ],
    pytorch: [
      "https://mirrors.aliyun.com/pytorch-wheels/cu118/",
      "https://mirror.sjtu.edu.cn/pytorch-wheels/cu118",
    ],
    conda: ["https://mirrors.tuna.tsinghua.edu.cn/anaconda", "https://mirrors.aliyun.com/anaconda"],
    anaconda: [
      "https://mirrors.tuna.tsinghua.edu.cn/anaconda/archive",
      "https://mirrors.aliyun.com/anaconda/archive",
    ],
    huggingface: ["https://hf-mirror.com"],
    nvidia: ["https://developer.download.nvidia.cn"],
  },
  global: {
    apt: [],
    pypi: ["https://pypi.org/simple"],
    pytorch: ["https://download.pytorch.org/whl/cu118"],
    conda: [],
    anaconda: ["https://repo.anaconda.com/archive"],
    huggingface: ["https://huggingface.co"],
    nvidia: ["https://developer.download.nvidia.com"],
  },
};

/**
 * Hosts of the official sources. The cn profile names none of them; the plan can warn when a
 * cn stack's overrides bring one back.
 */
export const OFFICIAL_HOSTS: readonly string[] = [
  "archive.ubuntu.com",
  "security.ubuntu.com",
  "pypi.org",
  "files.pythonhosted.org",
  "download.pytorch.org",
  "repo.anaconda.com",
  "conda.anaconda.org",
  "huggingface.co",
  "developer.download.nvidia.com",
];

/** True when the URL's host is an official host or one of its subdomains. */
export function isOfficialHost(url: string): boolean {
  const host = new URL(url).hostname;
  return OFFICIAL_HOSTS.some((h) => host === h || host.endsWith(`.${h}`));
}

/**
 * The profile's lists with the stack's overrides applied: `devbox:mirrors.<source>` (a URL or
 * a list) replaces that source's whole list, in the order given. Pure: the settings are not
 * changed.
 */
export function mirrorsFor(settings: Pick<Settings, "mirrors">): MirrorLists {
  const m = settings.mirrors;
  const base = MIRROR_PROFILES[m.profile];
  const out = {} as Record<MirrorSource, readonly string[]>;
  for (const source of MIRROR_SOURCES) {
    const override = m[source];
    out[source] = override !== undefined ? [...override] : [...base[source]];
  }
  return out;
}
