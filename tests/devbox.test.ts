import * as pulumi from "@pulumi/pulumi";
import { resolveConfig } from "../infra/config/load";
import {
  boxTags,
  connectionInfo,
  costOf,
  dataVolumeArgs,
  expiryTime,
  instanceArgs,
  securityGroupArgs,
} from "../infra/devbox";
import { CANONICAL_OWNERS, imageQuery } from "../infra/image";
import { OfflineResource, runOffline } from "../infra/offline";
import { devboxProgram } from "../infra/program";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIo6aQ1AFVZjq6Xa7hHfeIgQYAMVCQNOUijt09XWG1kd me";
const BASE: Record<string, string> = {
  "aws:region": "us-east-1",
  "devbox:preset": "rtx",
  "devbox:owner": "alice",
  "devbox:team": "nlp",
  "devbox:ssh": JSON.stringify({ allowedCidrs: ["198.51.100.7/32"], publicKeys: [KEY, KEY + "2"] }),
};

async function deploy(extra: Record<string, string> = {}) {
  const config = { ...BASE, ...extra };
  const warnings: string[] = [];
  const run = await runOffline(config, [], "alice", () =>
    devboxProgram({
      config,
      stack: "alice",
      now: new Date("2026-12-03T10:00:00Z"),
      onWarning: (w) => warnings.push(w),
    }),
  );
  const byType = (t: string) => run.resources.filter((r) => r.type === t);
  const one = (t: string): OfflineResource => {
    const found = byType(t);
    expect(found).toHaveLength(1);
    return found[0];
  };
  return { ...run, warnings, byType, one };
}

describe("GpuDevBox under mocks", () => {
  it("creates the component and its children, named after it", async () => {
    const run = await deploy();
    expect(run.resources.map((r) => [r.type, r.name]).sort()).toEqual(
      [
        ["devbox:aws:GpuDevBox", "devbox"],
        ["aws:ec2/securityGroup:SecurityGroup", "devbox-sg"],
        ["aws:ec2/keyPair:KeyPair", "devbox-key"],
        ["aws:ebs/volume:Volume", "devbox-data"],
        ["aws:ec2/instance:Instance", "devbox-instance"],
        ["aws:ec2/volumeAttachment:VolumeAttachment", "devbox-data-attachment"],
        ["command:remote:CopyToRemote", "devbox-verify-files"],
        ["command:remote:Command", "devbox-verify"],
      ].sort(),
    );
  });

  it("makes only the lookups it is known to make", async () => {
    const run = await deploy();
    expect([...new Set(run.calls.map((c) => c.token))].sort()).toEqual([
      "aws:ec2/getAmi:getAmi",
      "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings",
      "aws:ec2/getSubnet:getSubnet",
      "aws:ec2/getSubnets:getSubnets",
      "aws:ec2/getVpc:getVpc",
    ]);
  });

  it("requires IMDSv2 and encrypts the root and data volumes", async () => {
    const run = await deploy();
    const inst = run.one("aws:ec2/instance:Instance").inputs as any;
    expect(inst.metadataOptions).toEqual({
      httpEndpoint: "enabled",
      httpTokens: "required",
      httpPutResponseHopLimit: 1,
    });
    expect(inst.rootBlockDevice).toMatchObject({
      encrypted: true,
      volumeType: "gp3",
      volumeSize: 100,
    });
    expect(inst.ebsOptimized).toBe(true);
    expect(inst.userDataReplaceOnChange).toBe(true);
    expect(inst.instanceType).toBe("g5.4xlarge");
    expect(inst.instanceMarketOptions).toBeUndefined();
    const vol = run.one("aws:ebs/volume:Volume").inputs as any;
    expect(vol).toMatchObject({
      encrypted: true,
      type: "gp3",
      size: 500,
      iops: 3000,
      throughput: 125,
    });
    expect(vol.availabilityZone).toBe("us-east-1a");
  });

  it("admits SSH only from the configured range on the configured port", async () => {
    const run = await deploy();
    const sg = run.one("aws:ec2/securityGroup:SecurityGroup").inputs as any;
    expect(sg.ingress).toEqual([
      {
        description: "SSH",
        protocol: "tcp",
        fromPort: 22,
        toPort: 22,
        cidrBlocks: ["198.51.100.7/32"],
      },
    ]);
  });

  it("creates no inbound rule at all when no range is given, and says so", async () => {
    const run = await deploy({ "devbox:ssh": JSON.stringify({ publicKeys: [KEY] }) });
    const sg = run.one("aws:ec2/securityGroup:SecurityGroup").inputs as any;
    expect(sg.ingress ?? []).toEqual([]);
    expect(run.warnings.join("\n")).toContain("devbox:ssh.allowedCidrs is empty");
  });

  it("opens SSH to the world only with allowFromAnywhere, with a loud warning", async () => {
    const run = await deploy({
      "devbox:ssh": JSON.stringify({
        allowedCidrs: ["0.0.0.0/0", "::/0"],
        allowFromAnywhere: true,
      }),
    });
    const sg = run.one("aws:ec2/securityGroup:SecurityGroup").inputs as any;
    expect(sg.ingress.map((r: any) => r.cidrBlocks ?? r.ipv6CidrBlocks)).toEqual([
      ["0.0.0.0/0"],
      ["::/0"],
    ]);
    expect(run.warnings).toContain(
      "SSH IS OPEN TO THE WORLD (0.0.0.0/0, ::/0) because devbox:ssh.allowFromAnywhere is true.",
    );
  });

  it("creates no key pair when no key is given", async () => {
    const run = await deploy({
      "devbox:ssh": JSON.stringify({ allowedCidrs: ["198.51.100.7/32"] }),
    });
    expect(run.byType("aws:ec2/keyPair:KeyPair")).toEqual([]);
  });

  it("looks up Canonical's image in the China partition for cn regions", async () => {
    const run = await deploy({ "aws:region": "cn-north-1" });
    const ami = run.calls.find((c) => c.token === "aws:ec2/getAmi:getAmi")! as any;
    expect(ami.inputs.owners).toEqual(["837727238323"]);
    expect(ami.inputs.filters[0].values).toEqual([
      "ubuntu/images/hvm-ssd*/ubuntu-focal-20.04-amd64-server-*",
    ]);
  });

  it("skips the lookup when an AMI is given", async () => {
    const run = await deploy({ "devbox:os": JSON.stringify({ amiId: "ami-0123456789abcdef0" }) });
    expect(run.calls.map((c) => c.token)).not.toContain("aws:ec2/getAmi:getAmi");
    expect((run.one("aws:ec2/instance:Instance").inputs as any).ami).toBe("ami-0123456789abcdef0");
  });

  it.each([
    ["stop", { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" }, "stop"],
    [
      "terminate",
      { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" },
      "terminate",
    ],
  ])("runs spot with autostop %s", async (action, spotOptions, shutdown) => {
    const run = await deploy({
      "devbox:instance": JSON.stringify({ spot: true }),
      "devbox:autostop": JSON.stringify({ action }),
    });
    const inst = run.one("aws:ec2/instance:Instance").inputs as any;
    expect(inst.instanceMarketOptions).toEqual({ marketType: "spot", spotOptions });
    expect(inst.instanceInitiatedShutdownBehavior).toBe(shutdown);
  });

  it("tags every taggable resource with owner, team, stack and expiry", async () => {
    const run = await deploy({ "devbox:ttlHours": "8" });
    const taggable = run.resources.filter(
      (r) => r.type.startsWith("aws:") && !r.type.includes("volumeAttachment"),
    );
    expect(taggable).toHaveLength(4);
    for (const r of taggable) {
      expect((r.inputs as any).tags).toMatchObject({
        "devbox:owner": "alice",
        "devbox:team": "nlp",
        "devbox:stack": "alice",
        "devbox:expires-at": "2026-12-03T18:00:00Z",
      });
    }
    expect(
      (run.one("aws:ec2/instance:Instance").inputs as any).rootBlockDevice.tags["devbox:owner"],
    ).toBe("alice");
  });

  it("attaches the data volume at the fixed device name", async () => {
    const run = await deploy();
    expect(run.one("aws:ec2/volumeAttachment:VolumeAttachment").inputs).toMatchObject({
      deviceName: "/dev/sdf",
      volumeId: "devbox-data-id",
      instanceId: "devbox-instance-id",
      stopInstanceBeforeDetaching: true,
    });
  });

  it("refuses a type no zone of the region offers, before creating anything", async () => {
    // The catalog cannot know every region's gaps; the deploy-time offering lookup is what
    // refuses here, so the mocks answer it with no zones.
    const created: string[] = [];
    pulumi.runtime.setAllConfig(BASE, []);
    await pulumi.runtime.setMocks(
      {
        newResource: (a) => {
          created.push(a.name);
          return { id: `${a.name}-id`, state: a.inputs };
        },
        call: (a) => {
          if (a.token === "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings") {
            return { id: "x", locations: [], locationTypes: [], instanceTypes: [] };
          }
          throw new Error(`unexpected call ${a.token}`);
        },
      },
      "llm-devbox",
      "x",
      false,
    );
    await expect(
      devboxProgram({ config: BASE, stack: "x", now: new Date(0), onWarning: () => undefined }),
    ).rejects.toThrow(
      "devbox:instance.type: g5.4xlarge is not offered in any zone of us-east-1 " +
        "(DescribeInstanceTypeOfferings). Choose another region or GPU; nothing was created.",
    );
    expect(created).toEqual([]);
  });

  it("refuses user-data over EC2's limit before creating anything", async () => {
    const created: OfflineResource[] = [];
    const pkgs = Array.from({ length: 3000 }, (_, i) => `pkg${i}x${i * 7919}==1.${i}`);
    const config = { ...BASE, "devbox:software": JSON.stringify({ extraPipPackages: pkgs }) };
    const run = runOffline(
      config,
      [],
      "x",
      () => devboxProgram({ config, stack: "x", now: new Date(0), onWarning: () => undefined }),
      created,
    );
    await expect(run).rejects.toThrow(/over EC2's 16384-byte limit/);
    expect(created).toEqual([]);
  });

  it("exposes the outputs a user needs", async () => {
    const run = await deploy({ "devbox:dataVolume": JSON.stringify({ keepAfterDestroy: true }) });
    expect(run.outputs).toMatchObject({
      instanceId: "devbox-instance-id",
      instanceType: "g5.4xlarge",
      availabilityZone: "us-east-1a",
      publicIp: "203.0.113.10",
      privateIp: "172.31.0.10",
      sshCommand: "ssh -p 22 ubuntu@203.0.113.10",
      jupyterTunnel: "ssh -N -L 8888:127.0.0.1:8888 -p 22 ubuntu@203.0.113.10",
      dataVolumeId: "devbox-data-id",
      dataVolumeKeptOnDestroy: true,
      expiresAt: "never",
    });
    expect(run.outputs.sshConfig).toContain("Host devbox-alice\n  HostName 203.0.113.10\n");
    expect((run.outputs.hourlyCostUsd as any).priceDate).toBe("2026-07-20");
    expect(run.warnings.join("\n")).toContain("kept by pulumi destroy");
    expect(run.one("aws:ebs/volume:Volume").options.retainOnDelete).toBe(true);
  });

  it("deletes the data volume with the stack by default", async () => {
    const run = await deploy();
    expect(run.one("aws:ebs/volume:Volume").options.retainOnDelete).toBe(false);
    expect(run.resources.filter((r) => r.options.retainOnDelete)).toEqual([]);
  });

  it("fixes the expiry tag at creation: later updates do not move it", async () => {
    const run = await deploy({ "devbox:ttlHours": "8" });
    expect(run.one("aws:ec2/instance:Instance").options.ignoreChanges).toEqual([
      'tags["devbox:expires-at"]',
      'rootBlockDevice.tags["devbox:expires-at"]',
    ]);
    expect(run.one("aws:ebs/volume:Volume").options.ignoreChanges).toEqual([
      'tags["devbox:expires-at"]',
    ]);
  });
});

describe("GpuDevBox's plain functions", () => {
  const cfg = resolveConfig({ ...BASE }, "alice", {});
  it("splits IPv4 and IPv6 ranges into separate rules", () => {
    const c = resolveConfig(
      {
        ...BASE,
        "devbox:ssh": JSON.stringify({ allowedCidrs: ["10.0.0.0/8", "2001:db8::/32"], port: 2222 }),
      },
      "s",
      {},
    );
    expect(securityGroupArgs(c, "vpc-1", {}).ingress).toEqual([
      {
        description: "SSH",
        protocol: "tcp",
        fromPort: 2222,
        toPort: 2222,
        cidrBlocks: ["10.0.0.0/8"],
      },
      {
        description: "SSH (IPv6)",
        protocol: "tcp",
        fromPort: 2222,
        toPort: 2222,
        ipv6CidrBlocks: ["2001:db8::/32"],
      },
    ]);
  });
  it("computes the expiry from creation time and TTL", () => {
    expect(expiryTime(0, new Date(0))).toBe("never");
    expect(expiryTime(1.5, new Date("2026-01-01T00:00:00Z"))).toBe("2026-01-01T01:30:00Z");
  });
  it("tags unowned boxes visibly", () => {
    const c = resolveConfig({ "aws:region": "us-east-1" }, "s", {});
    expect(boxTags(c, "never", "x")["devbox:owner"]).toBe("unowned");
  });
  it("prices the instance plus both volumes", () => {
    const c = resolveConfig(
      {
        ...BASE,
        "devbox:dataVolume": JSON.stringify({ sizeGiB: 1000, iops: 6000, throughputMiBps: 250 }),
      },
      "s",
      {},
    );
    const cost = costOf(c);
    // 100 GiB root + 1000 GiB data at $0.08, 3000 extra IOPS at $0.005, 125 extra MiB/s at $0.04.
    expect(cost.volumesUsd).toBeCloseTo((1100 * 0.08 + 3000 * 0.005 + 125 * 0.04) / 730, 4);
    expect(cost.totalUsd).toBeCloseTo(1.624 + cost.volumesUsd, 4);
  });
  it("builds the connection strings", () => {
    expect(connectionInfo(cfg, "192.0.2.1").sshCommand).toBe("ssh -p 22 ubuntu@192.0.2.1");
  });
  it("keeps the data volume in the chosen zone", () => {
    expect(dataVolumeArgs(cfg, "us-east-1b", {}).availabilityZone).toBe("us-east-1b");
  });
  it("refuses to build an instance without a chosen type", () => {
    const byoh = resolveConfig(
      {
        "aws:region": "us-east-1",
        "devbox:target": "ssh",
        "devbox:host": '{"address":"192.0.2.5"}',
      },
      "s",
      {},
    );
    expect(() =>
      instanceArgs(byoh, { imageId: "ami", subnetId: "s", securityGroupId: "g", tags: {} }),
    ).toThrow("instanceArgs needs an AWS target with a chosen type");
  });
  it("knows Canonical's owner per partition", () => {
    expect(imageQuery("aws", "ubuntu-22.04").owners).toEqual([CANONICAL_OWNERS.aws]);
    expect(imageQuery("aws", "ubuntu-22.04").filters![0].values).toEqual([
      "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*",
    ]);
  });
});

describe("verification and your own host under mocks", () => {
  it("checks the box after it exists, over SSH as the login user, again when the box changes", async () => {
    const config = {
      ...BASE,
      "devbox:ssh": JSON.stringify({
        allowedCidrs: ["198.51.100.7/32"],
        publicKeys: [KEY],
        privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----",
      }),
    };
    const run = await runOffline(config, [], "alice", () =>
      devboxProgram({ config, stack: "alice", now: new Date(0), onWarning: () => undefined }),
    );
    const cmd = run.resources.find((r) => r.type === "command:remote:Command")!.inputs as any;
    // The private key makes the whole connection a Pulumi secret: encrypted in state.
    expect(cmd.connection["4dabf18193072939515e22adb298388d"]).toBe(
      "1b47061264138c4ac30d75fd1eb44270",
    );
    expect(cmd.connection.value).toMatchObject({
      host: "203.0.113.10",
      user: "ubuntu",
      port: 22,
      dialErrorLimit: 40,
      perDialTimeout: 30,
    });
    expect(cmd.create).toContain("sudo -n /opt/devbox/bin/devbox-wait --timeout 3600 && ");
    expect(cmd.create).toContain("/opt/devbox/bin/devbox-verify");
    expect(cmd.triggers[0]).toBe("devbox-instance-id");
    // After the box: the files are copied once the instance and its data volume are attached,
    // and the check runs after the copy.
    const copy = run.resources.find((r) => r.type === "command:remote:CopyToRemote")!;
    expect(copy.options.dependsOn).toEqual(
      expect.arrayContaining(["devbox-instance", "devbox-data-attachment"]),
    );
    const verify = run.resources.find((r) => r.type === "command:remote:Command")!;
    expect(verify.options.dependsOn).toContain("devbox-verify-files");
    // The user-data's SHA-256, not the document itself, keeps the trigger small in state.
    expect(cmd.triggers[1]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("skips the check when verification is disabled", async () => {
    const config = { ...BASE, "devbox:verify": '{"enabled": false}' };
    const run = await runOffline(config, [], "a", () =>
      devboxProgram({ config, stack: "a", now: new Date(0), onWarning: () => undefined }),
    );
    expect(run.resources.some((r) => r.type.startsWith("command:"))).toBe(false);
    expect(run.outputs.verification).toBe("disabled (devbox:verify.enabled is false)");
  });

  it("creates no AWS resource for your own host: only the copy and the command", async () => {
    const config = {
      "aws:region": "us-east-1",
      "devbox:target": "ssh",
      "devbox:preset": "rtx",
      "devbox:host": JSON.stringify({ address: "192.0.2.50", user: "alice", port: 2222 }),
    };
    const run = await runOffline(config, [], "ws", () =>
      devboxProgram({ config, stack: "ws", now: new Date(0), onWarning: () => undefined }),
    );
    expect(run.calls).toEqual([]);
    expect(run.resources.map((r) => [r.type, r.name])).toEqual([
      ["command:remote:CopyToRemote", "devbox-files"],
      ["command:remote:Command", "devbox-setup"],
    ]);
    const cmd = run.resources[1].inputs as any;
    expect(cmd.connection.value).toMatchObject({ host: "192.0.2.50", user: "alice", port: 2222 });
    expect(cmd.create).toContain("sudo -n /opt/devbox/bin/devbox-setup && ");
    expect(cmd.create).toContain("DEVBOX_CLOUD_INIT=");
  });
});
