import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { resolveConfig } from "../infra/config/load";
import { loadStack, REPO_ROOT } from "../infra/config/files";
import {
  EXIT_NO_CLI,
  EXIT_USAGE,
  lsHeader,
  lsRow,
  main,
  newStack,
  renderStatus,
  SetupStatus,
} from "../scripts/devbox";

/** Captures what a command prints. */
async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, "log").mockImplementation((...a) => void out.push(a.join(" ")));
  const write = jest
    .spyOn(process.stdout, "write")
    .mockImplementation((s) => !!out.push(String(s)));
  const ewrite = jest
    .spyOn(process.stderr, "write")
    .mockImplementation((s) => !!err.push(String(s)));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    const status = await main(argv);
    return { status, stdout: out.join("\n"), stderr: err.join("") };
  } finally {
    process.env = saved;
    log.mockRestore();
    write.mockRestore();
    ewrite.mockRestore();
  }
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "devbox-cli-"));
  fs.copyFileSync(
    path.join(REPO_ROOT, "stacks/Pulumi.rtx.yaml"),
    path.join(dir, "Pulumi.rtx.yaml"),
  );
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("devbox command line", () => {
  it.each([
    [["new"], "devbox new: which stack name?"],
    [["new", "alice"], "devbox new: --preset is required"],
    [
      ["new", "Alice Box", "--preset", "rtx"],
      'devbox new: stack name "Alice Box": use lower case letters, digits, _ . -',
    ],
    [["new", "alice", "--preset"], "devbox new: --preset needs a value"],
    [
      ["new", "alice", "--preset", "h100"],
      "devbox new: --preset h100: no stacks/Pulumi.h100.yaml; presets: rtx",
    ],
    [["new", "alice", "--colour", "red"], "devbox new: unknown option --colour"],
    [["up"], "devbox up: which stack name?"],
    [["up", "a", "b"], "devbox up: one stack name at a time (got a b)"],
    [["down", "--force"], "devbox down: unknown option --force"],
    [["ls", "--all"], "devbox ls: unknown option --all"],
    [["status"], "devbox status: which stack name?"],
    [["status", "rtx", "--host"], "devbox status: --host needs a value"],
    [["ssh"], "devbox ssh: which stack name?"],
    [["tunnel"], "devbox tunnel: which stack name?"],
  ])("refuses %j with a usage error", async (argv, message) => {
    const r = await run(argv as string[], { DEVBOX_STACKS_DIR: dir });
    expect(r.status).toBe(EXIT_USAGE);
    expect(r.stderr.split("\n")[0]).toBe(message);
    expect(r.stderr).toContain("usage: npm run devbox -- ");
  });

  it("refuses an unknown command and lists the commands", async () => {
    const r = await run(["deploy"]);
    expect(r.status).toBe(EXIT_USAGE);
    expect(r.stderr).toContain("devbox: unknown command deploy");
    expect(r.stderr).toContain("  tunnel  forward Jupyter");
  });

  it.each(["new", "plan", "up", "down", "ls", "status", "ssh", "tunnel"])(
    "has --help for %s",
    async (cmd) => {
      const r = await run([cmd, "--help"]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: npm run devbox -- ${cmd}`));
    },
  );

  it.each([["up"], ["down"], ["ls"]])(
    "says the Pulumi CLI is missing for %s and exits 3",
    async (cmd) => {
      const argv = cmd === "ls" ? [cmd] : [cmd, "rtx"];
      const r = await run(argv, { DEVBOX_STACKS_DIR: dir, PATH: "/nonexistent" });
      expect(r.status).toBe(EXIT_NO_CLI);
      expect(r.stderr).toContain(`devbox ${cmd}: the Pulumi CLI is not installed`);
      expect(r.stderr).toContain("https://www.pulumi.com/docs/install/");
    },
  );

  it("says what happens to the data volume before down does anything", async () => {
    const r = await run(["down", "rtx"], { DEVBOX_STACKS_DIR: dir, PATH: "/nonexistent" });
    expect(r.stdout).toContain(
      "=> the data volume and everything on /data will be DELETED with the box",
    );
  });

  it("makes a member stack from a preset that the plan accepts", async () => {
    const r = await run(["new", "alice-box", "--preset", "rtx", "--owner", "alice"], {
      DEVBOX_STACKS_DIR: dir,
    });
    expect(r.status).toBe(0);
    const loaded = loadStack("alice-box", dir);
    const cfg = resolveConfig(loaded.config, "alice-box", {});
    expect(cfg.settings.owner).toBe("alice");
    expect(cfg.instanceType?.name).toBe("g5.4xlarge");
    const plan = await run(["plan", "alice-box", "--json"], { DEVBOX_STACKS_DIR: dir });
    expect(plan.status).toBe(0);
    expect(JSON.parse(plan.stdout).instanceType).toBe("g5.4xlarge");
  });

  it("refuses to overwrite a stack, and writes nothing for an invalid one", async () => {
    expect(() => newStack("rtx", "rtx", {}, dir)).toThrow(/exists; pick another name/);
    expect(() => newStack("bob", "rtx", { cidr: "0.0.0.0/0" }, dir)).toThrow(
      /devbox:ssh.allowedCidrs: opens SSH/,
    );
    expect(fs.existsSync(path.join(dir, "Pulumi.bob.yaml"))).toBe(false);
  });
});

describe("devbox ls rows", () => {
  it("shows type, state, hourly estimate and expiry under the header", () => {
    expect(lsHeader()).toBe("stack              type            state     $/h      expires");
    expect(
      lsRow({
        name: "alice-box",
        resourceCount: 9,
        outputs: {
          instanceType: "g5.4xlarge",
          hourlyCostUsd: { totalUsd: 1.6898 },
          expiresAt: "2026-12-04T08:00:00Z",
        },
      }),
    ).toBe("alice-box          g5.4xlarge      up        1.69     2026-12-04T08:00:00Z");
    expect(lsRow({ name: "old", resourceCount: 0, outputs: {} })).toBe(
      "old                -               empty     -        -",
    );
    expect(lsRow({ name: "b", resourceCount: 3, updating: true, outputs: {} })).toMatch(
      / updating /,
    );
  });

  it("says the Pulumi CLI is missing for ssh and tunnel without --host, naming the command", async () => {
    for (const cmd of ["ssh", "tunnel", "status"]) {
      const r = await run([cmd, "rtx"], { DEVBOX_STACKS_DIR: dir, PATH: "/nonexistent" });
      expect(r.status).toBe(EXIT_NO_CLI);
      expect(r.stderr).toContain(`devbox ${cmd}: the Pulumi CLI is not installed`);
    }
  });
});

describe("renderStatus", () => {
  const fixture = path.join(REPO_ROOT, "tests/fixtures/status-sequence.json");
  const sequence: { now: number; status: SetupStatus; expected: string[] }[] = JSON.parse(
    fs.readFileSync(fixture, "utf8"),
  );
  it.each(sequence.map((s, i) => [i, s] as const))("renders recorded status %i", (_i, s) => {
    expect(renderStatus(s.status, s.now, { driver: 300 }).split("\n")).toEqual(s.expected);
  });
});
