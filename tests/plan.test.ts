import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { listStacks, REPO_ROOT } from "../infra/config/files";
import { parseArgs, plan, renderText, UsageError } from "../scripts/plan";

const EXPECTED_TYPES: Record<string, string> = {
  a100: "p4d.24xlarge",
  "a100-80gb": "p4de.24xlarge",
  rtx: "g5.4xlarge",
  "rtx-cn": "g5.4xlarge",
  l4: "g6.4xlarge",
  l40s: "g6e.2xlarge",
  t4: "g4dn.4xlarge",
};
/** Stacks that set up the user's own host over SSH: no instance type, no AWS resource. */
const OWN_HOSTS = ["workstation"];

/** Runs the plan the way a user does, with no AWS variables and no pulumi on PATH. */
function cli(args: string[], env: Record<string, string> = {}) {
  const clean: Record<string, string> = { PATH: path.dirname(process.execPath), HOME: os.tmpdir() };
  return spawnSync(
    process.execPath,
    [path.join(REPO_ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/plan.ts", ...args],
    { cwd: REPO_ROOT, env: { ...clean, ...env }, encoding: "utf8" },
  );
}

describe("plan of every stack file", () => {
  const stacks = listStacks();
  it("covers every preset", () => {
    expect(stacks).toEqual([...Object.keys(EXPECTED_TYPES), ...OWN_HOSTS].sort());
  });

  it.each(OWN_HOSTS)("plans %s with only the copy and the command", async (stack) => {
    const { result, files } = await plan(stack);
    expect(result.instanceType).toBeNull();
    expect(result.resources.map((r) => `${r.type} ${r.name}`)).toEqual([
      "command:remote:CopyToRemote devbox-files",
      "command:remote:Command devbox-setup",
    ]);
    expect(result.lookups).toEqual([]);
    expect(files.has("files/opt/devbox/bin/devbox-verify")).toBe(true);
  });

  it.each(Object.keys(EXPECTED_TYPES))(
    "plans %s with the expected type and the box's resources",
    async (stack) => {
      const { result } = await plan(stack);
      expect(result.instanceType).toBe(EXPECTED_TYPES[stack]);
      expect(result.resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
        [
          "aws:ebs/volume:Volume devbox-data",
          "aws:ec2/instance:Instance devbox-instance",
          "aws:ec2/keyPair:KeyPair devbox-key",
          "aws:ec2/securityGroup:SecurityGroup devbox-sg",
          "aws:ec2/volumeAttachment:VolumeAttachment devbox-data-attachment",
          "command:remote:Command devbox-verify",
          "command:remote:CopyToRemote devbox-verify-files",
          "devbox:aws:GpuDevBox devbox",
        ].sort(),
      );
      expect(result.hourlyUsd).toBeGreaterThan(result.gpu!.count > 1 ? 5 : 1);
      expect(result.reason).not.toBe("");
      const text = renderText(result);
      expect(text).toContain(`instance     ${EXPECTED_TYPES[stack]}`);
      expect(text).toContain("aws:ec2/instance:Instance");
    },
  );

  it("uses China's Canonical image owner and the cn mirrors for rtx-cn", async () => {
    const { result } = await plan("rtx-cn");
    expect(result.partition).toBe("aws-cn");
    const ami = result.lookups.find((c) => c.token === "aws:ec2/getAmi:getAmi");
    expect(ami?.inputs.owners).toEqual(["837727238323"]);
  });
});

describe("npm run plan", () => {
  it("prints the JSON plan with no AWS variables and no pulumi on PATH", () => {
    const r = cli(["rtx", "--json"]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      stack: "rtx",
      region: "us-east-1",
      instanceType: "g5.4xlarge",
      gpu: { model: "a10g", count: 1, memoryGiB: 22.4 },
      memoryGiB: 64,
    });
    expect(j.hourlyUsd).toBeCloseTo(1.6898, 3);
    expect(j.resources).toContainEqual(
      expect.objectContaining({ type: "aws:ec2/instance:Instance", name: "devbox-instance" }),
    );
    expect(j).toHaveProperty("userData");
  });

  it("exits 2 with one line per problem on stderr and nothing on stdout", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-"));
    fs.writeFileSync(
      path.join(dir, "Pulumi.bad.yaml"),
      "config:\n  devbox:dataVolume.sizeGiB: -5\n  devbox:dataVolumee: {}\n",
    );
    const r = cli(["bad"], { DEVBOX_STACKS_DIR: dir });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toEqual([
      "devbox:dataVolume.sizeGiB: must be at least 1 GiB (got -5). Raise it to 1 or more.",
      "devbox:dataVolumee: is not a known setting (got {}). Did you mean dataVolume? Rename it, or remove it.",
    ]);
    fs.rmSync(dir, { recursive: true });
  });

  it("exits 2 when the user-data would not fit in EC2's limit, creating nothing", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-"));
    const packages = Array.from({ length: 3000 }, (_, i) => `    - pkg${i}x${i * 7919}==1.${i}`);
    fs.writeFileSync(
      path.join(dir, "Pulumi.big.yaml"),
      [
        "config:",
        "  devbox:preset: t4",
        "  devbox:software:",
        "    extraPipPackages:",
        ...packages,
      ].join("\n") + "\n",
    );
    const r = cli(["big"], { DEVBOX_STACKS_DIR: dir });
    fs.rmSync(dir, { recursive: true });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /^user-data is \d+ bytes gzipped \(\d+ bytes raw\), over EC2's 16384-byte limit\./,
    );
    expect(r.stderr).not.toContain("    at ");
  });

  it("exits 2 naming the stack file when the stack does not exist", () => {
    const r = cli(["no-such-stack"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^no stack file .*Pulumi\.no-such-stack\.yaml; stacks there: a100, /);
  });

  it("writes plan.json under --out", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-out-"));
    const r = cli(["t4", "--out", dir]);
    expect(r.status).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "plan.json"), "utf8")).instanceType).toBe(
      "g4dn.4xlarge",
    );
    fs.rmSync(dir, { recursive: true });
  });
});

describe("parseArgs", () => {
  it.each([
    [[], "which stack? e.g. npm run plan -- rtx"],
    [["rtx", "--out"], "--out needs a directory"],
    [["rtx", "--yaml"], "unknown option --yaml"],
    [["rtx", "t4"], "one stack at a time (got rtx and t4)"],
  ])("refuses %j", (argv, message) => {
    expect(() => parseArgs(argv as string[])).toThrow(new UsageError(message as string));
  });
});
