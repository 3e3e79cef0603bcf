import fc from "fast-check";
import { ConfigError, devboxObject, resolveConfig } from "../infra/config/load";
import { OfflineResource, runOffline } from "../infra/offline";
import { devboxProgram } from "../infra/program";

const REGION = { "aws:region": "us-east-1" };

function problemsOf(config: Record<string, string>): string[] {
  try {
    resolveConfig({ ...REGION, ...config }, "test", {});
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

/** Each bad config and the exact line(s) it must produce: path, problem, value, what to do. */
const BAD_CONFIGS: [string, Record<string, string>, string[]][] = [
  [
    "negative data volume",
    { "devbox:dataVolume": '{"sizeGiB": -5}' },
    ["devbox:dataVolume.sizeGiB: must be at least 1 GiB (got -5). Raise it to 1 or more."],
  ],
  [
    "fractional data volume",
    { "devbox:dataVolume": '{"sizeGiB": 10.5}' },
    ["devbox:dataVolume.sizeGiB: must be a whole number of GiB (got 10.5). Drop the fraction."],
  ],
  [
    "huge data volume",
    { "devbox:dataVolume": '{"sizeGiB": 20000}' },
    [
      "devbox:dataVolume.sizeGiB: must be at most 16384 GiB (got 20000). Lower it to 16384 or less.",
    ],
  ],
  [
    "data volume size as text",
    { "devbox:dataVolume": '{"sizeGiB": "big"}' },
    [
      'devbox:dataVolume.sizeGiB: must be a whole number of GiB (got "big"). Give a number, such as 1.',
    ],
  ],
  [
    "iops below gp3 floor",
    { "devbox:dataVolume": '{"iops": 100}' },
    ["devbox:dataVolume.iops: must be at least 3000 IOPS (got 100). Raise it to 3000 or more."],
  ],
  [
    "throughput over iops/4",
    { "devbox:dataVolume": '{"throughputMiBps": 1000}' },
    [
      "devbox:dataVolume.throughputMiBps: exceeds gp3's limit of iops/4 = 750 MiB/s (got 1000). Raise dataVolume.iops to at least 4000, or lower the throughput.",
    ],
  ],
  [
    "iops over 500 per GiB",
    { "devbox:dataVolume": '{"sizeGiB": 8, "iops": 16000, "throughputMiBps": 125}' },
    [
      "devbox:dataVolume.iops: exceeds gp3's 500 IOPS per GiB for a 8 GiB volume (got 16000). Raise dataVolume.sizeGiB to 32 or lower the IOPS.",
    ],
  ],
  [
    "unknown filesystem",
    { "devbox:dataVolume": '{"filesystem": "btrfs"}' },
    ['devbox:dataVolume.filesystem: is not a supported filesystem (got "btrfs"). Use xfs or ext4.'],
  ],
  [
    "relative mount point",
    { "devbox:dataVolume": '{"mountPoint": "data"}' },
    ['devbox:dataVolume.mountPoint: is not an absolute path (got "data"). Write it like /data.'],
  ],
  [
    "keepAfterDestroy not a boolean",
    { "devbox:dataVolume": '{"keepAfterDestroy": "yes"}' },
    [
      'devbox:dataVolume.keepAfterDestroy: must be true or false (got "yes"). Write true or false, without quotes.',
    ],
  ],
  [
    "unknown top-level key close to one",
    { "devbox:dataVolme": '{"sizeGiB": 5}' },
    [
      'devbox:dataVolme: is not a known setting (got {"sizeGiB":5}). Did you mean dataVolume? Rename it, or remove it.',
    ],
  ],
  [
    "unknown top-level key far from any",
    { "devbox:colour": "blue" },
    [
      'devbox:colour: is not a known setting (got "blue"). Remove it; known keys here are: preset, target, owner, team, ttlHours, gpu, instance, os, rootVolume, dataVolume, network, ssh, mirrors, software, jupyter, autostop, verify, host.',
    ],
  ],
  [
    "unknown nested key",
    { "devbox:gpu": '{"modle": "a10g"}' },
    [
      'devbox:gpu.modle: is not a known setting (got "a10g"). Did you mean gpu.model? Rename it, or remove it.',
    ],
  ],
  [
    "unknown GPU model",
    { "devbox:gpu": '{"model": "rtx4090"}' },
    [
      'devbox:gpu.model: is not a known GPU (got "rtx4090"). Use one of: t4, a10g, l4, l40s, a100, a100-80gb.',
    ],
  ],
  [
    "zero GPUs",
    { "devbox:gpu": '{"count": 0}' },
    ["devbox:gpu.count: must be at least 1 GPUs (got 0). Raise it to 1 or more."],
  ],
  [
    "too many GPUs",
    { "devbox:gpu": '{"count": 16}' },
    ["devbox:gpu.count: must be at most 8 GPUs (got 16). Lower it to 8 or less."],
  ],
  [
    "GPU memory over 80",
    { "devbox:gpu": '{"minMemoryGiB": 96}' },
    ["devbox:gpu.minMemoryGiB: must be at most 80 GiB (got 96). Lower it to 80 or less."],
  ],
  [
    "unknown preset",
    { "devbox:preset": "h100" },
    [
      'devbox:preset: is not a preset (got "h100"). Use one of: a100, a100-80gb, rtx, l4, l40s, t4.',
    ],
  ],
  [
    "unknown target",
    { "devbox:target": "gcp" },
    ['devbox:target: is not a target (got "gcp"). Use aws, or ssh for your own host.'],
  ],
  [
    "ssh target without host",
    { "devbox:target": "ssh" },
    [
      "devbox:host.address: is required when devbox:target is ssh (got nothing). Set devbox:host.address to your host's address.",
    ],
  ],
  [
    "bad instance type shape",
    { "devbox:instance": '{"type": "G5 4XL"}' },
    ['devbox:instance.type: is not an EC2 instance type (got "G5 4XL"). Write it like g5.4xlarge.'],
  ],
  [
    "instance type not in catalog",
    { "devbox:instance": '{"type": "m5.large"}' },
    [
      'devbox:instance.type: is not in the kit\'s GPU catalog (got "m5.large"). Pick a type from the catalog (README: GPU catalog), or leave it unset to choose the cheapest fit.',
    ],
  ],
  [
    "instance type below minimum RAM",
    { "devbox:instance": '{"type": "g5.4xlarge", "minRamGiB": 128}' },
    [
      'devbox:instance.type: it has 64 GiB of RAM, under instance.minRamGiB 128 (got "g5.4xlarge"). Pick a type that meets the minimums, lower them, or leave instance.type unset.',
    ],
  ],
  [
    "instance type not offered in region",
    { "aws:region": "cn-north-1", "devbox:instance": '{"type": "g6e.2xlarge"}' },
    [
      'devbox:instance.type: it is not offered in cn-north-1 (got "g6e.2xlarge"). Pick a type that meets the minimums, lower them, or leave instance.type unset.',
    ],
  ],
  [
    "spot not a boolean",
    { "devbox:instance": '{"spot": "maybe"}' },
    [
      'devbox:instance.spot: must be true or false (got "maybe"). Write true or false, without quotes.',
    ],
  ],
  [
    "unsupported Ubuntu",
    { "devbox:os": '{"release": "ubuntu-18.04"}' },
    [
      'devbox:os.release: is not a supported release (got "ubuntu-18.04"). Use ubuntu-20.04 or ubuntu-22.04.',
    ],
  ],
  [
    "bad AMI ID",
    { "devbox:os": '{"amiId": "ubuntu"}' },
    ['devbox:os.amiId: is not an AMI ID (got "ubuntu"). Write it like ami-0abc1234def567890.'],
  ],
  [
    "root volume too small",
    { "devbox:rootVolume": '{"sizeGiB": 20}' },
    ["devbox:rootVolume.sizeGiB: must be at least 60 GiB (got 20). Raise it to 60 or more."],
  ],
  [
    "bad subnet",
    { "devbox:network": '{"subnetId": "default"}' },
    ['devbox:network.subnetId: is not a subnet ID (got "default"). Write it like subnet-0abc1234.'],
  ],
  [
    "world-open SSH",
    { "devbox:ssh": '{"allowedCidrs": ["0.0.0.0/0"]}' },
    [
      'devbox:ssh.allowedCidrs: opens SSH to the whole internet (got ["0.0.0.0/0"]). Use your own range (e.g. your office /24), or set devbox:ssh.allowFromAnywhere: true if you really mean 0.0.0.0/0.',
    ],
  ],
  [
    "world-open IPv6 SSH",
    { "devbox:ssh": '{"allowedCidrs": ["::/0"]}' },
    [
      'devbox:ssh.allowedCidrs: opens SSH to the whole internet (got ["::/0"]). Use your own range (e.g. your office /24), or set devbox:ssh.allowFromAnywhere: true if you really mean ::/0.',
    ],
  ],
  [
    "bad CIDR octet",
    { "devbox:ssh": '{"allowedCidrs": ["10.0.0.256/32"]}' },
    [
      'devbox:ssh.allowedCidrs.0: is not a CIDR range (got "10.0.0.256/32"). Write address/prefix, such as 203.0.113.7/32 for one address.',
    ],
  ],
  [
    "CIDR without prefix",
    { "devbox:ssh": '{"allowedCidrs": ["10.0.0.1"]}' },
    [
      'devbox:ssh.allowedCidrs.0: is not a CIDR range (got "10.0.0.1"). Write address/prefix, such as 203.0.113.7/32 for one address.',
    ],
  ],
  [
    "bad public key",
    { "devbox:ssh": '{"publicKeys": ["AAAA my key"]}' },
    [
      'devbox:ssh.publicKeys.0: is not an OpenSSH public key (got "AAAA my key"). Paste one line of ~/.ssh/id_ed25519.pub.',
    ],
  ],
  [
    "bad SSH port",
    { "devbox:ssh": '{"port": 70000}' },
    ["devbox:ssh.port: must be at most 65535 (got 70000). Lower it to 65535 or less."],
  ],
  [
    "bad user name",
    { "devbox:ssh": '{"user": "Root User"}' },
    ['devbox:ssh.user: is not a Linux user name (got "Root User"). Use lower case, like ubuntu.'],
  ],
  [
    "empty private key",
    { "devbox:ssh": '{"privateKey": ""}' },
    [
      "devbox:ssh.privateKey: is empty (got [secret]). Set it with: pulumi config set --secret --path devbox:ssh.privateKey",
    ],
  ],
  [
    "unknown mirror profile",
    { "devbox:mirrors": '{"profile": "eu"}' },
    [
      'devbox:mirrors.profile: is not a mirror profile (got "eu"). Use cn (mainland China) or global.',
    ],
  ],
  [
    "mirror not a URL",
    { "devbox:mirrors": '{"pypi": "tuna"}' },
    [
      'devbox:mirrors.pypi: must be a URL or a list of URLs (got "tuna"). Give one URL, or a list tried in order.',
    ],
  ],
  [
    "mirror list with a bad entry",
    { "devbox:mirrors": '{"apt": ["https://mirrors.tuna.tsinghua.edu.cn/ubuntu", "ftp://x"]}' },
    [
      'devbox:mirrors.apt.1: must be an http(s) URL (got "ftp://x"). Give a URL such as https://mirror.example/path.',
    ],
  ],
  [
    "the Anaconda release that never existed",
    { "devbox:software": '{"anaconda": "2023.11"}' },
    [
      "devbox:software.anaconda: is not a release with a verified checksum (got 2023.11). Use one of 2023.09-0, 2024.02-1, 2024.06-1 (there is no 2023.11).",
    ],
  ],
  [
    "PyTorch without cu118 wheels",
    { "devbox:software": '{"pytorch": "2.8.0"}' },
    [
      'devbox:software.pytorch: has no CUDA 11.8 wheels (got "2.8.0"). Use one of 2.7.1, 2.7.0, 2.6.0, 2.5.1, 2.4.1; 2.7 is the last cu118 line.',
    ],
  ],
  [
    "CUDA 12",
    { "devbox:software": '{"cuda": "12.1"}' },
    [
      "devbox:software.cuda: is not supported (got 12.1). The kit builds CUDA 11.8 boxes only; use 11.8.",
    ],
  ],
  [
    "Python 2",
    { "devbox:software": '{"python": "2.7"}' },
    ["devbox:software.python: is not a supported Python (got 2.7). Use 3.10 (or 3.9, 3.11, 3.12)."],
  ],
  [
    "bad conda env name",
    { "devbox:software": '{"condaEnv": "my env"}' },
    [
      'devbox:software.condaEnv: is not a conda env name (got "my env"). Use letters, digits, _ . -.',
    ],
  ],
  [
    "pip requirement with a shell injection",
    { "devbox:software": '{"extraPipPackages": ["peft; rm -rf /"]}' },
    [
      'devbox:software.extraPipPackages.0: is not a pip requirement (got "peft; rm -rf /"). Write it like peft==0.11.1 or accelerate>=0.30.',
    ],
  ],
  [
    "negative TTL",
    { "devbox:ttlHours": "-1" },
    ["devbox:ttlHours: must be at least 0 hours (got -1). Raise it to 0 or more."],
  ],
  [
    "TTL as text",
    { "devbox:ttlHours": "forever" },
    ['devbox:ttlHours: must be a whole number of hours (got "forever"). Give a number, such as 0.'],
  ],
  [
    "TTL over 30 days",
    { "devbox:ttlHours": "1000" },
    ["devbox:ttlHours: must be at most 720 hours (got 1000). Lower it to 720 or less."],
  ],
  [
    "negative idle minutes",
    { "devbox:autostop": '{"idleMinutes": -10}' },
    ["devbox:autostop.idleMinutes: must be at least 0 minutes (got -10). Raise it to 0 or more."],
  ],
  [
    "unknown autostop action",
    { "devbox:autostop": '{"action": "hibernate"}' },
    ['devbox:autostop.action: is not an action (got "hibernate"). Use stop or terminate.'],
  ],
  [
    "Jupyter on a privileged port",
    { "devbox:jupyter": '{"port": 80}' },
    ["devbox:jupyter.port: must be at least 1024 (got 80). Raise it to 1024 or more."],
  ],
  [
    "verify timeout too short",
    { "devbox:verify": '{"timeoutMinutes": 1}' },
    ["devbox:verify.timeoutMinutes: must be at least 5 minutes (got 1). Raise it to 5 or more."],
  ],
  [
    "owner with spaces",
    { "devbox:owner": "Alice Smith" },
    ['devbox:owner: is not a valid owner (got "Alice Smith"). Use a user name or e-mail.'],
  ],
  [
    "bad region",
    { "aws:region": "mars-1" },
    ['aws:region: is not an AWS region (got "mars-1"). Use a code like us-east-1.'],
  ],
  [
    "object key given as a scalar",
    { "devbox:gpu": "a10g" },
    [
      'devbox:gpu: must be an object (got "a10g"). Write its fields as a nested map (see the configuration reference in README.md).',
    ],
  ],
];

describe("resolveConfig", () => {
  it("has at least 30 bad configs to check", () => {
    expect(BAD_CONFIGS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(BAD_CONFIGS)("refuses %s with the exact message", (_label, config, expected) => {
    expect(problemsOf(config)).toEqual(expected);
  });

  it("reports every problem at once, one line each, naming each key", () => {
    const problems = problemsOf({
      "devbox:dataVolume.sizeGiB": "-5",
      "devbox:gpuu": "2",
      "devbox:ssh": '{"allowedCidrs": ["0.0.0.0/0"], "port": 0}',
    });
    expect(problems).toEqual([
      "devbox:dataVolume.sizeGiB: must be at least 1 GiB (got -5). Raise it to 1 or more.",
      "devbox:gpuu: is not a known setting (got 2). Did you mean gpu? Rename it, or remove it.",
      'devbox:ssh.allowedCidrs: opens SSH to the whole internet (got ["0.0.0.0/0"]). Use your own range (e.g. your office /24), or set devbox:ssh.allowFromAnywhere: true if you really mean 0.0.0.0/0.',
      "devbox:ssh.port: must be at least 1 (got 0). Raise it to 1 or more.",
    ]);
  });

  it("admits a world-open range only with allowFromAnywhere, and then warns", () => {
    const cfg = resolveConfig(
      { ...REGION, "devbox:ssh": '{"allowedCidrs": ["0.0.0.0/0"], "allowFromAnywhere": true}' },
      "test",
      {},
    );
    expect(cfg.warnings).toContain(
      "SSH IS OPEN TO THE WORLD (0.0.0.0/0) because devbox:ssh.allowFromAnywhere is true.",
    );
  });

  it("applies the preset, and lets the stack's gpu settings win over it", () => {
    const cfg = resolveConfig(
      { ...REGION, "devbox:preset": "rtx", "devbox:gpu": '{"count": 4}' },
      "t",
      {},
    );
    expect(cfg.instanceType?.name).toBe("g5.12xlarge");
    expect(cfg.gpu).toEqual({ model: "a10g", count: 4, memoryGiB: 22.4 });
  });

  it("takes Pulumi's string scalars for numbers and booleans", () => {
    const cfg = resolveConfig(
      { ...REGION, "devbox:ttlHours": "8", "devbox:instance.spot": "true" },
      "t",
      {},
    );
    expect(cfg.settings.ttlHours).toBe(8);
    expect(cfg.settings.instance.spot).toBe(true);
  });

  it("fills every default", () => {
    const s = resolveConfig(REGION, "t", {}).settings;
    expect(s.gpu.minMemoryGiB).toBe(16);
    expect(s.instance.minRamGiB).toBe(64);
    expect(s.os.release).toBe("ubuntu-20.04");
    expect(s.software).toEqual({
      python: "3.10",
      cuda: "11.8",
      pytorch: "2.7.1",
      condaEnv: "large_model_env",
      anaconda: "2024.02-1",
      extraPipPackages: [],
    });
    expect(s.mirrors.profile).toBe("global");
    expect(s.ssh.allowedCidrs).toEqual([]);
  });

  it("takes the region from the environment when the stack has none", () => {
    expect(resolveConfig({}, "t", { AWS_REGION: "eu-west-1" }).region).toBe("eu-west-1");
  });
});

describe("devboxObject", () => {
  it("expands dotted shorthand keys into the nested form", () => {
    expect(
      devboxObject({
        "devbox:dataVolume": '{"iops": 4000}',
        "devbox:dataVolume.sizeGiB": "800",
        "aws:region": "us-east-1",
      }),
    ).toEqual({ dataVolume: { iops: 4000, sizeGiB: "800" } });
  });
});

describe("random invalid config", () => {
  const junk = fc.oneof(
    fc.string(),
    fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
    fc.double().map(String),
    fc.constantFrom("true", "null", "[]", "{}", "-1", "0", "1e309"),
    fc.json(),
  );
  const key = fc.constantFrom(
    "devbox:gpu",
    "devbox:gpu.count",
    "devbox:dataVolume",
    "devbox:dataVolume.sizeGiB",
    "devbox:ssh",
    "devbox:ssh.allowedCidrs",
    "devbox:ttlHours",
    "devbox:instance",
    "devbox:software",
    "devbox:mirrors",
    "devbox:preset",
    "devbox:autostop",
    "devbox:nonsense",
    "aws:region",
  );

  it("never crashes and never reaches resource creation", async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(key, junk, { minKeys: 1, maxKeys: 4 }), async (extra) => {
        const config = { ...REGION, "devbox:preset": "t4", ...extra };
        let rejected = false;
        try {
          resolveConfig(config, "prop", {});
        } catch (e) {
          // Bad input must come back as a ConfigError, one line per problem, never as a crash.
          expect(e).toBeInstanceOf(ConfigError);
          const problems = (e as ConfigError).problems;
          expect(problems.length).toBeGreaterThan(0);
          for (const p of problems) expect(p).toMatch(/^(devbox|aws):[^\n]+: .+ \(got .*\)\. .+$/);
          rejected = true;
        }
        const created: OfflineResource[] = [];
        const run = runOffline(
          config,
          [],
          "prop",
          () =>
            devboxProgram({ config, stack: "prop", now: new Date(0), onWarning: () => undefined }),
          created,
        );
        if (rejected) {
          await expect(run).rejects.toBeInstanceOf(ConfigError);
          expect(created).toEqual([]);
        } else {
          expect((await run).resources.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 60 },
    );
  });
});
