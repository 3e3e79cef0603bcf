import * as pulumi from "@pulumi/pulumi";
import { execFileSync, spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import {
  createVerification,
  parseVerifyReport,
  verificationCommandArgs,
  waitThenVerifyCommand,
  VERIFY_OK_MARKER,
} from "../infra/verification";
import { shellQuote } from "../infra/shell";

/** What a passing check prints, as the mocked remote command's stdout. */
const PASSING_STDOUT =
  "=> setup done after 840 s of waiting\n" +
  '{"ok": true, "failed_step": null, "log": "/var/log/devbox/verify.log", ' +
  '"host": {"gpus": ["NVIDIA A10G"]}, "steps": [{"name": "gpus", "ok": true, "seconds": 0.1, ' +
  '"detail": "1 x NVIDIA A10G, driver 535.183.01"}]}\n' +
  "DEVBOX_VERIFY_OK\n";

const created: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      if (args.type !== "command:remote:Command") {
        throw new Error(`unexpected resource ${args.type}`);
      }
      created.push({ type: args.type, name: args.name, inputs: args.inputs });
      return { id: `${args.name}-id`, state: { ...args.inputs, stdout: PASSING_STDOUT } };
    },
    call: (args) => {
      throw new Error(`unexpected call ${args.token}`);
    },
  },
  "devbox",
  "test",
  false,
);

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

const REPO = path.resolve(__dirname, "..");
const FIXTURES = path.join(REPO, "tests", "fixtures", "verify");

describe("waitThenVerifyCommand", () => {
  it("waits, then checks, both through sudo -n under /opt/devbox by default", () => {
    expect(waitThenVerifyCommand({ timeoutMinutes: 60 })).toBe(
      "sudo -n /opt/devbox/bin/devbox-wait --timeout 3600 && sudo -n /opt/devbox/bin/devbox-verify",
    );
  });

  it("passes the model to the check through env(1), since sudo drops the environment", () => {
    expect(waitThenVerifyCommand({ timeoutMinutes: 45, model: "bert-base-uncased" })).toBe(
      "sudo -n /opt/devbox/bin/devbox-wait --timeout 2700 && " +
        "sudo -n env DEVBOX_VERIFY_MODEL=bert-base-uncased /opt/devbox/bin/devbox-verify",
    );
  });

  it("uses the given prefix and environment for both programs, quoted for the shell", () => {
    expect(
      waitThenVerifyCommand({
        timeoutMinutes: 0.05,
        prefix: "/tmp/dev box/",
        sudo: false,
        model: "org/it's",
        environment: { DEVBOX_STATE_DIR: "/tmp/s", DEVBOX_CLOUD_INIT: "" },
      }),
    ).toBe(
      "env DEVBOX_STATE_DIR=/tmp/s DEVBOX_CLOUD_INIT= '/tmp/dev box/bin/devbox-wait' --timeout 3 && " +
        "env DEVBOX_STATE_DIR=/tmp/s DEVBOX_CLOUD_INIT= 'DEVBOX_VERIFY_MODEL=org/it'\\''s' " +
        "'/tmp/dev box/bin/devbox-verify'",
    );
  });

  it("rounds a fractional timeout up to whole seconds", () => {
    expect(waitThenVerifyCommand({ timeoutMinutes: 1.001, sudo: false })).toContain(
      "devbox-wait --timeout 61 &&",
    );
  });

  it("refuses a bad timeout, a relative prefix and a bad variable name, all at once", () => {
    expect(() =>
      waitThenVerifyCommand({
        timeoutMinutes: 0,
        prefix: "opt/devbox",
        environment: { "BAD-NAME": "x" },
      }),
    ).toThrow(
      "timeoutMinutes: must be a positive number of minutes (got 0). Set verify.timeoutMinutes.\n" +
        'prefix: must be an absolute path (got "opt/devbox").\n' +
        'environment: "BAD-NAME" is not a variable name.',
    );
    expect(() => waitThenVerifyCommand({ timeoutMinutes: Number.NaN })).toThrow(
      "timeoutMinutes: must be a positive number of minutes (got NaN)",
    );
  });
});

describe("shellQuote", () => {
  it.each([
    ["plain", "bert-base-uncased"],
    ["space", "/tmp/dev box"],
    ["single quote", "it's"],
    ["shell syntax", "$(touch /tmp/pwned); `id` && *"],
    ["empty", ""],
    ["newline", "a\nb"],
  ])("gives the shell back the same word (%s)", (_name, word) => {
    const out = execFileSync("sh", ["-c", `printf '%s' ${shellQuote(word)}`], {
      encoding: "utf8",
    });
    expect(out).toBe(word);
  });

  it("leaves safe words bare unless told to quote always", () => {
    expect(shellQuote("bert-base-uncased")).toBe("bert-base-uncased");
    expect(shellQuote("bert-base-uncased", true)).toBe("'bert-base-uncased'");
  });
});

/** Runs the real devbox-verify against the stubs of tests/fixtures/verify. */
function runVerify(extraEnv: Record<string, string>): { stdout: string; status: number | null } {
  const dir = mkdtempSync(path.join(tmpdir(), "verify-"));
  try {
    const envFile = path.join(dir, "devbox.env");
    writeFileSync(
      envFile,
      [
        "DEVBOX_GPU_NAME='NVIDIA A100'",
        "DEVBOX_GPU_COUNT='2'",
        "DEVBOX_NVSWITCH='1'",
        "DEVBOX_BF16='1'",
        "DEVBOX_DATA_MOUNT='/'",
        "DEVBOX_HF_MIRRORS='https://hf-mirror.com'",
        "",
      ].join("\n"),
    );
    const result = spawnSync(path.join(REPO, "cloud-init", "bin", "devbox-verify"), [], {
      encoding: "utf8",
      env: {
        PATH: `${path.join(FIXTURES, "bin")}:${process.env.PATH ?? ""}`,
        DEVBOX_ENV_FILE: envFile,
        DEVBOX_LOG_DIR: path.join(dir, "log"),
        DEVBOX_PYTHON: path.join(FIXTURES, "bin", "stub-python"),
        DEVBOX_VERIFY_MATRIX: "16",
        ...extraEnv,
      },
    });
    return { stdout: result.stdout, status: result.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("parseVerifyReport", () => {
  it("reads a passing run of the real devbox-verify", () => {
    const { stdout, status } = runVerify({});
    expect(status).toBe(0);
    const outcome = parseVerifyReport(stdout);
    expect(outcome.ok).toBe(true);
    expect(outcome.summary).toBe("all 9 checks passed");
    expect(outcome.report?.steps.map((s) => s.name)).toEqual([
      "config",
      "gpus",
      "fabricmanager",
      "nvcc",
      "torch",
      "compute",
      "libraries",
      "model",
      "data",
    ]);
    expect(outcome.report?.host.torch_cuda).toBe("11.8");
  });

  it("reads a failing run of the real devbox-verify: the step, its error and the log", () => {
    const { stdout, status } = runVerify({ STUB_NVCC_RELEASE: "12.1" });
    expect(status).toBe(1);
    const outcome = parseVerifyReport(stdout);
    expect(outcome).toMatchObject({ ok: false, stage: "verify", failedStep: "nvcc" });
    expect(outcome.log).toMatch(/\/log\/verify\.log$/);
    expect(outcome.summary).toMatch(
      /^check nvcc failed: \S+\/nvcc reports release 12\.1, expected 11\.8; read \S+\/verify\.log on the box$/,
    );
  });

  it("reads devbox-wait's failure marker as a failed setup step", () => {
    const stdout =
      "=> waiting up to 3600 s for setup to finish (/var/lib/devbox/status.json)\n" +
      "=> [12 s] failed: driver\n" +
      "DEVBOX_SETUP_FAILED step=driver log=/var/log/devbox/setup.log\n";
    expect(parseVerifyReport(stdout)).toEqual({
      ok: false,
      stage: "setup",
      failedStep: "driver",
      log: "/var/log/devbox/setup.log",
      summary: "setup step driver failed; read /var/log/devbox/setup.log on the box",
    });
  });

  it("reads devbox-wait's timeout marker", () => {
    const outcome = parseVerifyReport(
      "=> [0 s] running: cuda\r\nDEVBOX_SETUP_TIMEOUT step=cuda seconds=3600 log=/var/log/devbox/setup.log\r\n",
    );
    expect(outcome).toMatchObject({
      ok: false,
      stage: "setup",
      failedStep: "cuda",
      timedOut: true,
    });
    expect(outcome.summary).toBe(
      "setup did not finish within 3600 s (still at cuda); read /var/log/devbox/setup.log on the " +
        "box, or raise verify.timeoutMinutes",
    );
  });

  it.each([
    ["printed nothing", "", "the command printed nothing"],
    [
      "ended without a marker",
      "=> gpus: ok\nTraceback (most recent call last):\n",
      "no result marker: the command ended early (last line: Traceback (most recent call last):)",
    ],
    [
      "claimed success without a report",
      `=> gpus: ok\n${VERIFY_OK_MARKER}\n`,
      "without a JSON report",
    ],
    [
      "claimed success with a failing report",
      `{"ok": false, "failed_step": "gpus", "log": "x", "host": {}, "steps": []}\n${VERIFY_OK_MARKER}`,
      "but the report says the check failed",
    ],
    [
      "put the marker anywhere but last",
      `${VERIFY_OK_MARKER}\n{"ok": true, "failed_step": null, "log": "x", "host": {}, "steps": []}`,
      "no result marker",
    ],
  ])("is not ok when the output %s", (_name, stdout, summary) => {
    const outcome = parseVerifyReport(stdout);
    expect(outcome.ok).toBe(false);
    expect(outcome.summary).toContain(summary);
  });
});

describe("createVerification", () => {
  const connection = { host: "203.0.113.10", user: "ubuntu", privateKey: "not-a-real-key" };

  it("runs the wait-then-verify command as the create step, with no delete step", () => {
    const args = verificationCommandArgs({ connection, timeoutMinutes: 60, triggers: ["i-0abc"] });
    expect(args).toEqual({
      connection,
      create:
        "sudo -n /opt/devbox/bin/devbox-wait --timeout 3600 && sudo -n /opt/devbox/bin/devbox-verify",
      triggers: ["i-0abc"],
    });
  });

  it("creates <name>-verify and turns its stdout into the outcome", async () => {
    const verification = createVerification("devbox", {
      connection,
      timeoutMinutes: 60,
      model: "bert-base-uncased",
    });
    const outcome = await valueOf(verification.outcome);
    expect(created.map((r) => [r.type, r.name])).toEqual([
      ["command:remote:Command", "devbox-verify"],
    ]);
    expect(created[0].inputs.create).toBe(
      "sudo -n /opt/devbox/bin/devbox-wait --timeout 3600 && " +
        "sudo -n env DEVBOX_VERIFY_MODEL=bert-base-uncased /opt/devbox/bin/devbox-verify",
    );
    expect(outcome).toMatchObject({ ok: true, summary: "all 1 checks passed" });
    expect(outcome.report?.host.gpus).toEqual(["NVIDIA A10G"]);
  });
});
