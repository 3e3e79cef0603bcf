import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import YAML from "yaml";
import { listStacks, loadStack } from "../infra/config/files";
import { resolveConfig, ResolvedConfig } from "../infra/config/load";
import { settingsSchema } from "../infra/config/schema";
import { isOfficialHost, MIRROR_PROFILES, mirrorsFor } from "../infra/mirrors";
import {
  cloudInitFiles,
  devboxEnv,
  NOT_IN_USER_DATA,
  renderEnvFile,
  renderUserData,
  stripShellComments,
  stripUnitComments,
  CLOUD_INIT_DIR,
  USER_DATA_LIMIT_BYTES,
  UserDataTooLargeError,
  verificationFiles,
} from "../infra/userdata";

const VOLUME_ID = "vol-0123456789abcdef0";
const PRIVATE_KEY = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");

function stackConfig(stack: string): ResolvedConfig {
  return resolveConfig(loadStack(stack).config, stack, {});
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "userdata-"));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Debian's cloud-init validates the document offline. */
function cloudInitSchema(yaml: string, name: string) {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, yaml);
  return spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
}

describe("renderUserData for every stack file", () => {
  const stacks = listStacks();
  const sizes: string[] = [];
  afterAll(() => {
    // Printed for the reviewer: how close each stack is to EC2's limit.
    console.log(`user-data gzip sizes (limit ${USER_DATA_LIMIT_BYTES}):\n${sizes.join("\n")}`);
  });

  it("finds the stack files", () => {
    expect(stacks.length).toBeGreaterThanOrEqual(6);
  });

  it.each(stacks)("%s: passes cloud-init schema", (stack) => {
    const r = renderUserData(stackConfig(stack), VOLUME_ID);
    expect(r.yaml.startsWith("#cloud-config\n")).toBe(true);
    const res = cloudInitSchema(r.yaml, stack);
    const text = `${res.stdout}${res.stderr}`;
    expect(res.status).toBe(0);
    expect(text).not.toMatch(/Error|Invalid/);
    expect(text).toContain("Valid cloud-config");
  });

  it.each(stacks)("%s: gzipped user-data is under EC2's 16,384 bytes", (stack) => {
    const r = renderUserData(stackConfig(stack), VOLUME_ID);
    sizes.push(`  ${stack}: ${r.compressedBytes} bytes gzip, ${r.bytes} raw`);
    expect(r.compressedBytes).toBeLessThan(USER_DATA_LIMIT_BYTES);
    const gz = Buffer.from(r.gzipBase64, "base64");
    expect(gz.length).toBe(r.compressedBytes);
    expect(zlib.gunzipSync(gz).toString("utf8")).toBe(r.yaml);
  });

  it.each(stacks)(
    "%s: write_files permissions are strings and files are the rendered ones",
    (stack) => {
      const r = renderUserData(stackConfig(stack), VOLUME_ID);
      const doc = YAML.parse(r.yaml) as { write_files: Record<string, unknown>[] };
      for (const f of doc.write_files) {
        expect(typeof f.permissions).toBe("string");
        expect(f.permissions).toMatch(/^0[0-7]{3}$/);
      }
      expect(doc.write_files.map((f) => f.path)).toEqual(r.files.map((f) => f.path));
      expect(doc.write_files.map((f) => f.content)).toEqual(r.files.map((f) => f.content));
    },
  );

  it.each(stacks)(
    "%s: the settings file carries the data volume and the profile's mirrors",
    (stack) => {
      const cfg = stackConfig(stack);
      const r = renderUserData(cfg, VOLUME_ID);
      const env = r.files.find((f) => f.path === "/etc/devbox/devbox.env")!.content;
      expect(env).toContain(`DEVBOX_DATA_VOLUME_ID='${VOLUME_ID}'`);
      expect(env).toContain(`DEVBOX_PYPI_MIRRORS='${mirrorsFor(cfg.settings).pypi.join(" ")}'`);
      expect(env).toContain(`DEVBOX_NVSWITCH='${cfg.instanceType?.nvswitch ? 1 : 0}'`);
    },
  );
});

describe("renderUserData", () => {
  const base = stackConfig("a100");

  it("starts the setup unit without blocking cloud-final", () => {
    const doc = YAML.parse(renderUserData(base, VOLUME_ID).yaml) as { runcmd: string[][] };
    expect(doc.runcmd).toEqual([
      ["install", "-m", "0644", "/opt/devbox/systemd/devbox-setup.service", "/etc/systemd/system/"],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "devbox-setup.service"],
      ["systemctl", "start", "--no-block", "devbox-setup.service"],
    ]);
  });

  it("writes every boot-time file of cloud-init/ in a fixed order", () => {
    const paths = renderUserData(base, VOLUME_ID).files.map((f) => f.path);
    expect(paths[0]).toBe("/etc/devbox/devbox.env");
    for (const p of [
      "/opt/devbox/lib/common.sh",
      "/opt/devbox/steps/10-mirrors.sh",
      "/opt/devbox/steps/70-jupyter.sh",
      "/opt/devbox/bin/devbox-setup",
      "/opt/devbox/systemd/devbox-setup.service",
    ]) {
      expect(paths).toContain(p);
    }
    const steps = paths.filter((p) => p.startsWith("/opt/devbox/steps/"));
    expect(steps).toEqual([...steps].sort());
    expect(renderUserData(base, VOLUME_ID).yaml).toBe(renderUserData(base, VOLUME_ID).yaml);
  });

  it("leaves the verification programs out, and hands them to whoever runs them", () => {
    const paths = renderUserData(base, VOLUME_ID).files.map((f) => f.path);
    expect(paths).not.toContain("/opt/devbox/bin/devbox-verify");
    expect(paths).not.toContain("/opt/devbox/bin/devbox-wait");
    expect(verificationFiles().map((f) => f.source)).toEqual([...NOT_IN_USER_DATA]);
  });

  it("never renders the SSH private key", () => {
    const cfg = {
      ...base,
      settings: { ...base.settings, ssh: { ...base.settings.ssh, privateKey: PRIVATE_KEY } },
    };
    const r = renderUserData(cfg, VOLUME_ID);
    expect(r.yaml).not.toContain("PRIVATE KEY");
    expect(r.yaml).not.toContain("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ");
  });

  it("adds every public key after the first (the EC2 key pair's) for the default user", () => {
    const keys = [
      "ssh-ed25519 AAAAfirst one",
      "ssh-ed25519 AAAAsecond two",
      "ssh-rsa AAAAthird three",
    ];
    const cfg = {
      ...base,
      settings: { ...base.settings, ssh: { ...base.settings.ssh, publicKeys: keys } },
    };
    const doc = YAML.parse(renderUserData(cfg, VOLUME_ID).yaml) as Record<string, unknown>;
    expect(doc.ssh_authorized_keys).toEqual(keys.slice(1));
    expect(doc.users).toBeUndefined();
  });

  it("gives another login user every key, sudo, and a users entry that keeps the default user", () => {
    const keys = ["ssh-ed25519 AAAAfirst one", "ssh-ed25519 AAAAsecond two"];
    const cfg = {
      ...base,
      settings: {
        ...base.settings,
        ssh: { ...base.settings.ssh, user: "alice", publicKeys: keys },
      },
    };
    const r = renderUserData(cfg, VOLUME_ID);
    const doc = YAML.parse(r.yaml) as { users: unknown[] };
    expect(doc.users[0]).toBe("default");
    expect(doc.users[1]).toMatchObject({
      name: "alice",
      ssh_authorized_keys: keys,
      lock_passwd: true,
    });
    expect(cloudInitSchema(r.yaml, "alice").status).toBe(0);
  });

  it("refuses a document over the limit, naming its size and the limit", () => {
    // Hex names do not compress away: 3000 of them are far over 16 KB gzipped.
    const extra = Array.from({ length: 3000 }, () => `p${randomBytes(8).toString("hex")}`);
    const cfg = {
      ...base,
      settings: {
        ...base.settings,
        software: { ...base.settings.software, extraPipPackages: extra },
      },
    };
    expect(() => renderUserData(cfg, VOLUME_ID)).toThrow(
      /^user-data is \d+ bytes gzipped \(\d+ bytes raw\), over EC2's 16384-byte limit/,
    );
  });

  it("refuses an injected file that pushes it over, and accepts a small one", () => {
    const big = randomBytes(12000).toString("base64");
    const file = { path: "/opt/devbox/big", content: big, permissions: "0644" };
    expect(() => renderUserData(base, VOLUME_ID, { extraFiles: [file] })).toThrow(
      UserDataTooLargeError,
    );
    expect(() => renderUserData(base, VOLUME_ID, { extraFiles: [file] })).toThrow(
      /16384-byte limit/,
    );
    // Over SSH (bring your own host) the limit does not apply.
    const unlimited = renderUserData(base, VOLUME_ID, { extraFiles: [file], enforceLimit: false });
    expect(unlimited.compressedBytes).toBeGreaterThan(16384);
    const small = { ...file, content: "ok\n" };
    expect(renderUserData(base, VOLUME_ID, { extraFiles: [small] }).files.at(-1)).toEqual({
      path: "/opt/devbox/big",
      content: "ok\n",
      permissions: "0644",
    });
  });
});

describe("devboxEnv for your own host", () => {
  it("never lets auto-stop or the TTL power off a workstation", () => {
    const own = resolveConfig(
      {
        "devbox:target": "ssh",
        "devbox:host": '{"address": "192.0.2.10"}',
        "devbox:ttlHours": "8",
        "devbox:autostop": '{"idleMinutes": 30}',
      },
      "ws",
      {},
    );
    const env = Object.fromEntries(devboxEnv(own, ""));
    expect(env.DEVBOX_AUTOSTOP_MINUTES).toBe("0");
    expect(env.DEVBOX_TTL_HOURS).toBe("0");
    const aws = resolveConfig({ "aws:region": "us-east-1", "devbox:ttlHours": "8" }, "b", {});
    expect(Object.fromEntries(devboxEnv(aws, "vol-1")).DEVBOX_TTL_HOURS).toBe("8");
  });
});

describe("stripUnitComments", () => {
  it("drops whole-line comments and blank lines and keeps every setting", () => {
    const unit =
      "# why\n[Unit]\n; old style\nDescription=x # not a comment here\n\n[Service]\n  # indented\nExecStart=/bin/true\n";
    expect(stripUnitComments(unit)).toBe(
      "[Unit]\nDescription=x # not a comment here\n[Service]\nExecStart=/bin/true\n",
    );
  });

  it("leaves every shipped unit with the same settings", () => {
    for (const f of cloudInitFiles().filter((x) => x.path.includes("/systemd/"))) {
      const source = fs.readFileSync(path.join(CLOUD_INIT_DIR, f.source!), "utf8");
      const settings = (t: string) =>
        t
          .split("\n")
          .filter((l) => /^\s*(\[|[A-Za-z])/.test(l))
          .map((l) => l.trim());
      expect(settings(f.content)).toEqual(settings(source));
      expect(f.content).not.toMatch(/^\s*#/m);
    }
  });
});

describe("devboxEnv and renderEnvFile", () => {
  it("quotes values so that the shell reads them back unchanged", () => {
    const nasty = `it's $HOME \`x\` "q" \\ ;|&`;
    const file = path.join(tmp, "env");
    fs.writeFileSync(file, renderEnvFile([["DEVBOX_EXTRA_PIP", nasty]]));
    const res = spawnSync("bash", ["-c", '. "$1"; printf %s "$DEVBOX_EXTRA_PIP"', "_", file], {
      encoding: "utf8",
    });
    expect(res.status).toBe(0);
    expect(res.stdout).toBe(nasty);
  });

  it("refuses a value with a line break", () => {
    expect(() => renderEnvFile([["DEVBOX_X", "a\nb"]])).toThrow(/DEVBOX_X holds a line break/);
  });

  it("pins driver, CUDA, Anaconda hash and the cu118 PyTorch trio", () => {
    const env = Object.fromEntries(devboxEnv(stackConfig("a100"), VOLUME_ID));
    expect(env).toMatchObject({
      DEVBOX_DRIVER_BRANCH: "535",
      DEVBOX_CUDA_VERSION: "11.8",
      DEVBOX_ANACONDA_RELEASE: "2024.02-1",
      DEVBOX_ANACONDA_SHA256: "c536ddb7b4ba738bddbd4e581b29308cb332fa12ae3fa2cd66814bd735dff231",
      DEVBOX_TORCH_VERSION: "2.7.1",
      DEVBOX_TORCHVISION_VERSION: "0.22.1",
      DEVBOX_TORCHAUDIO_VERSION: "2.7.1",
      DEVBOX_NVSWITCH: "1",
      DEVBOX_GPU_COUNT: "8",
      DEVBOX_SCRATCH_MOUNT: "/scratch",
    });
    const t4 = Object.fromEntries(devboxEnv(stackConfig("t4"), VOLUME_ID));
    expect(t4).toMatchObject({
      DEVBOX_NVSWITCH: "0",
      DEVBOX_BF16: "0",
      DEVBOX_GPU_NAME: "Tesla T4",
    });
  });

  it("renders only variables that cloud-init/README.md documents", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "cloud-init", "README.md"), "utf8");
    for (const [key] of devboxEnv(stackConfig("rtx"), VOLUME_ID)) {
      expect(readme).toContain(`\`${key}\``);
    }
  });
});

describe("mirrorsFor", () => {
  const settings = (mirrors: Record<string, unknown>) => settingsSchema.parse({ mirrors });

  it("cn names no official host in any list", () => {
    for (const urls of Object.values(MIRROR_PROFILES.cn)) {
      for (const url of urls) expect([url, isOfficialHost(url)]).toEqual([url, false]);
    }
  });

  it("global uses the official hosts", () => {
    const g = MIRROR_PROFILES.global;
    for (const url of [...g.pypi, ...g.pytorch, ...g.anaconda, ...g.huggingface, ...g.nvidia]) {
      expect([url, isOfficialHost(url)]).toEqual([url, true]);
    }
  });

  it("an override replaces that source's whole list, in order, and leaves the others", () => {
    const m = mirrorsFor(
      settings({ profile: "cn", pypi: ["https://b.example/simple", "https://a.example/simple"] }),
    );
    expect(m.pypi).toEqual(["https://b.example/simple", "https://a.example/simple"]);
    expect(m.apt).toEqual(MIRROR_PROFILES.cn.apt);
  });

  it("a single URL override becomes a one-item list", () => {
    expect(mirrorsFor(settings({ huggingface: "https://hf.example" })).huggingface).toEqual([
      "https://hf.example",
    ]);
  });

  it("does not let a caller change the profile through the result", () => {
    const m = mirrorsFor(settings({ profile: "cn" }));
    (m.pypi as string[]).push("https://x.example");
    expect(MIRROR_PROFILES.cn.pypi).not.toContain("https://x.example");
  });
});

describe("stripShellComments", () => {
  it("keeps the shebang, shellcheck directives and code; drops comments and blank lines", () => {
    const src = [
      "#!/bin/bash",
      "# a comment",
      "",
      "  # indented comment",
      "# shellcheck source=../lib/common.sh",
      'echo "# not a comment" # trailing',
      "",
    ].join("\n");
    expect(stripShellComments(src)).toBe(
      [
        "#!/bin/bash",
        "# shellcheck source=../lib/common.sh",
        'echo "# not a comment" # trailing',
        "",
      ].join("\n"),
    );
  });

  it("copies heredoc bodies verbatim, with <<- tabs, and does not take <<< for a heredoc", () => {
    const src = [
      "#!/bin/bash",
      "cat <<'EOF'",
      "# kept: data",
      "",
      "EOF",
      "# dropped",
      "python3 - <<-PY",
      "\t# kept too",
      "\tPY",
      'read -r x <<<"$y"',
      "# dropped as well",
      "",
    ].join("\n");
    expect(stripShellComments(src)).toBe(
      [
        "#!/bin/bash",
        "cat <<'EOF'",
        "# kept: data",
        "",
        "EOF",
        "python3 - <<-PY",
        "\t# kept too",
        "\tPY",
        'read -r x <<<"$y"',
        "",
      ].join("\n"),
    );
  });

  it("leaves every stripped shell script of cloud-init/ valid for bash -n", () => {
    const shells = cloudInitFiles().filter(
      (f) => f.content.startsWith("#!/bin/bash") || f.content.startsWith("#!/usr/bin/env bash"),
    );
    expect(shells.length).toBeGreaterThanOrEqual(10);
    for (const f of shells) {
      const res = spawnSync("bash", ["-n"], { input: f.content, encoding: "utf8" });
      expect([f.path, res.status, res.stderr]).toEqual([f.path, 0, ""]);
    }
  });

  it("leaves files that are not shell untouched", () => {
    const py = cloudInitFiles().find((f) => f.path.endsWith("/devbox-verify"));
    const raw = fs.readFileSync(
      path.join(__dirname, "..", "cloud-init", "bin", "devbox-verify"),
      "utf8",
    );
    expect(py?.content).toBe(raw);
  });
});
