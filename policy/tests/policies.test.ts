import {
  INGRESS_RULE,
  INSTANCE,
  SECURITY_GROUP,
  SECURITY_GROUP_RULE,
  VOLUME,
  policies,
} from "../policies";
import { CATALOG_TYPES } from "../prices";
import { violations } from "./harness";

/** What the kit's own program creates: every policy must let these through. */
const TAGS = { "devbox:owner": "ana", "devbox:expires-at": "2026-12-04T18:00:00Z" };
const goodInstance = {
  instanceType: "g5.4xlarge",
  metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
  rootBlockDevice: { volumeType: "gp3", volumeSize: 100, encrypted: true },
  tags: TAGS,
};
const goodVolume = { type: "gp3", size: 500, encrypted: true, tags: TAGS };
const sshFrom = (cidrBlocks: string[], ipv6CidrBlocks: string[] = []) => ({
  protocol: "tcp",
  fromPort: 22,
  toPort: 22,
  cidrBlocks,
  ipv6CidrBlocks,
});
const goodSecurityGroup = {
  ingress: [sshFrom(["203.0.113.7/32"]), sshFrom([], ["2001:db8::/48"])],
  egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
};

const OPEN_SSH = (label: string, ports: string, cidrs: string) =>
  `${label} opens SSH (port ${ports}) to ${cidrs}. Admit only known ranges ` +
  `(devbox:ssh.allowedCidrs), such as 203.0.113.7/32.`;

describe("the devbox policy pack", () => {
  it.each([
    ["an instance", INSTANCE, goodInstance],
    ["an EBS volume", VOLUME, goodVolume],
    ["a security group", SECURITY_GROUP, goodSecurityGroup],
  ])("lets the kit's own %s through every policy", async (_what, type, props) => {
    for (const p of policies) {
      expect(await violations(p.name, type, props)).toEqual([]);
    }
  });

  it("judges no other resource type, however it looks", async () => {
    const lookalike = { ...goodInstance, instanceType: "x1e.32xlarge", encrypted: false, tags: {} };
    for (const p of policies) {
      expect(await violations(p.name, "aws:ec2/launchTemplate:LaunchTemplate", lookalike)).toEqual(
        [],
      );
    }
  });

  it("publishes every setting's default in its config schema", () => {
    const schemaOf = (name: string) => policies.find((p) => p.name === name)?.configSchema;
    expect(schemaOf("devbox-allowed-instance-types")?.properties.allowedInstanceTypes).toEqual(
      expect.objectContaining({ default: [...CATALOG_TYPES] }),
    );
    expect(schemaOf("devbox-cost-ceiling")?.properties.maxHourlyUsd).toEqual(
      expect.objectContaining({ default: 35 }),
    );
    expect(schemaOf("devbox-ssh-not-open-to-world")?.properties.sshPorts).toEqual(
      expect.objectContaining({ default: [22] }),
    );
    expect(schemaOf("devbox-owner-and-expiry-tags")?.properties.requiredTags).toEqual(
      expect.objectContaining({ default: ["devbox:owner", "devbox:expires-at"] }),
    );
  });
});

describe("devbox-allowed-instance-types", () => {
  const check = (instanceType: string, config: object = {}) =>
    violations(
      "devbox-allowed-instance-types",
      INSTANCE,
      { ...goodInstance, instanceType },
      config,
    );

  it.each(CATALOG_TYPES.map((t) => [t]))("allows the catalog type %s by default", async (t) => {
    expect(await check(t)).toEqual([]);
  });

  it("refuses a type outside the catalog, naming the allowed ones", async () => {
    expect(await check("p5.48xlarge")).toEqual([
      `instanceType "p5.48xlarge" is not an allowed type. Use one of: ${CATALOG_TYPES.join(", ")} ` +
        `(policy setting allowedInstanceTypes).`,
    ]);
  });

  it("refuses a catalog type the team's list leaves out", async () => {
    const config = { allowedInstanceTypes: ["g5.4xlarge", "g6.4xlarge"] };
    expect(await check("g5.4xlarge", config)).toEqual([]);
    expect(await check("p4d.24xlarge", config)).toEqual([
      `instanceType "p4d.24xlarge" is not an allowed type. Use one of: g5.4xlarge, g6.4xlarge ` +
        `(policy setting allowedInstanceTypes).`,
    ]);
  });
});

describe("devbox-cost-ceiling", () => {
  const check = (instanceType: string, config: object = {}) =>
    violations("devbox-cost-ceiling", INSTANCE, { ...goodInstance, instanceType }, config);

  it("allows the dearest catalog type under the default 35 USD ceiling", async () => {
    expect(await check("g6e.48xlarge")).toEqual([]);
  });

  it("refuses a type over a lower ceiling, with its price and the snapshot", async () => {
    expect(await check("p4de.24xlarge", { maxHourlyUsd: 20 })).toEqual([
      `instanceType "p4de.24xlarge" costs $27.45/h on demand (us-east-1, 2026-07-20 snapshot), ` +
        `over the team's ceiling of $20.00/h. Pick a smaller type, or raise the policy setting ` +
        `maxHourlyUsd.`,
    ]);
    expect(await check("g5.48xlarge", { maxHourlyUsd: 20 })).toEqual([]);
  });

  it("allows a type priced exactly at the ceiling", async () => {
    expect(await check("g5.4xlarge", { maxHourlyUsd: 1.624 })).toEqual([]);
  });

  it("refuses a type it cannot price, and prices it from the hourlyUsd setting", async () => {
    expect(await check("p5.48xlarge")).toEqual([
      `instanceType "p5.48xlarge" has no price in the policy's table, so the ceiling of ` +
        `$35.00/h cannot be checked. Add its hourly price under the policy setting hourlyUsd.`,
    ]);
    expect(await check("p5.48xlarge", { hourlyUsd: { "p5.48xlarge": 98.32 } })).toEqual([
      `instanceType "p5.48xlarge" costs $98.32/h on demand (us-east-1, 2026-07-20 snapshot), ` +
        `over the team's ceiling of $35.00/h. Pick a smaller type, or raise the policy setting ` +
        `maxHourlyUsd.`,
    ]);
  });
});

describe("devbox-ssh-not-open-to-world", () => {
  const check = (type: string, props: Record<string, unknown>, config: object = {}) =>
    violations("devbox-ssh-not-open-to-world", type, props, config);

  it.each([
    ["an inline IPv4 rule", { ingress: [sshFrom(["0.0.0.0/0"])] }, "ingress[0]", "0.0.0.0/0"],
    ["an inline IPv6 rule", { ingress: [sshFrom([], ["::/0"])] }, "ingress[0]", "::/0"],
    [
      "the second of two inline rules, open both ways",
      { ingress: [sshFrom(["203.0.113.7/32"]), sshFrom(["0.0.0.0/0"], ["::/0"])] },
      "ingress[1]",
      "0.0.0.0/0 and ::/0",
    ],
    [
      "a port range that spans 22",
      { ingress: [{ protocol: "tcp", fromPort: 0, toPort: 1024, cidrBlocks: ["0.0.0.0/0"] }] },
      "ingress[0]",
      "0.0.0.0/0",
    ],
    [
      "an all-protocols rule",
      { ingress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }] },
      "ingress[0]",
      "0.0.0.0/0",
    ],
  ])("refuses a security group with %s open to the world", async (_what, props, label, cidrs) => {
    expect(await check(SECURITY_GROUP, props)).toEqual([OPEN_SSH(label, "22", cidrs)]);
  });

  it.each([
    ["SSH from one address", { ingress: [sshFrom(["203.0.113.7/32"])] }],
    [
      "HTTPS open to the world",
      { ingress: [{ ...sshFrom(["0.0.0.0/0"]), fromPort: 443, toPort: 443 }] },
    ],
    ["UDP on 22 open to the world", { ingress: [{ ...sshFrom(["0.0.0.0/0"]), protocol: "udp" }] }],
    ["no ingress at all", { ingress: [] }],
    ["egress open to the world", goodSecurityGroup],
  ])("allows a security group with %s", async (_what, props) => {
    expect(await check(SECURITY_GROUP, props)).toEqual([]);
  });

  it("refuses a separate SecurityGroupRule of type ingress, but not egress", async () => {
    const rule = { securityGroupId: "sg-1", ...sshFrom(["0.0.0.0/0"]) };
    expect(await check(SECURITY_GROUP_RULE, { ...rule, type: "ingress" })).toEqual([
      OPEN_SSH("the ingress rule", "22", "0.0.0.0/0"),
    ]);
    expect(await check(SECURITY_GROUP_RULE, { ...rule, type: "egress" })).toEqual([]);
    expect(
      await check(SECURITY_GROUP_RULE, { ...rule, type: "ingress", cidrBlocks: ["10.0.0.0/8"] }),
    ).toEqual([]);
  });

  it("refuses a vpc SecurityGroupIngressRule, IPv4 or IPv6", async () => {
    const rule = { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 22, toPort: 22 };
    expect(await check(INGRESS_RULE, { ...rule, cidrIpv4: "0.0.0.0/0" })).toEqual([
      OPEN_SSH("the ingress rule", "22", "0.0.0.0/0"),
    ]);
    expect(await check(INGRESS_RULE, { ipProtocol: "-1", cidrIpv6: "::/0" })).toEqual([
      OPEN_SSH("the ingress rule", "22", "::/0"),
    ]);
    expect(await check(INGRESS_RULE, { ...rule, cidrIpv4: "198.51.100.0/24" })).toEqual([]);
  });

  it("judges the SSH ports the team configures", async () => {
    const props = { ingress: [{ ...sshFrom(["0.0.0.0/0"]), fromPort: 2222, toPort: 2222 }] };
    expect(await check(SECURITY_GROUP, props)).toEqual([]);
    expect(await check(SECURITY_GROUP, props, { sshPorts: [22, 2222] })).toEqual([
      OPEN_SSH("ingress[0]", "2222", "0.0.0.0/0"),
    ]);
  });
});

describe("devbox-imdsv2-required", () => {
  const check = (metadataOptions: unknown) =>
    violations("devbox-imdsv2-required", INSTANCE, { ...goodInstance, metadataOptions });
  const tail =
    `; it must be "required" (IMDSv2). With IMDSv1 any process on the box, or a request it ` +
    `is tricked into forwarding, can read the instance's credentials.`;

  it("allows httpTokens required", async () => {
    expect(await check({ httpTokens: "required" })).toEqual([]);
  });

  it.each([
    ["optional", { httpTokens: "optional" }, 'metadataOptions.httpTokens is "optional"'],
    ["left out", { httpEndpoint: "enabled" }, "metadataOptions.httpTokens is not set"],
    ["without metadataOptions", undefined, "metadataOptions.httpTokens is not set"],
  ])("refuses httpTokens %s", async (_what, options, head) => {
    expect(await check(options)).toEqual([head + tail]);
  });
});

describe("devbox-encrypted-volumes", () => {
  const check = (type: string, props: Record<string, unknown>) =>
    violations("devbox-encrypted-volumes", type, props);

  it("refuses an instance whose root device is not encrypted", async () => {
    const props = { ...goodInstance, rootBlockDevice: { volumeSize: 100, encrypted: false } };
    expect(await check(INSTANCE, props)).toEqual([
      "rootBlockDevice.encrypted is not true. Set rootBlockDevice.encrypted: true.",
    ]);
  });

  it("refuses an instance that leaves the root device to the image", async () => {
    const { rootBlockDevice: _dropped, ...props } = goodInstance;
    expect(await check(INSTANCE, props)).toEqual([
      "rootBlockDevice is not set, so the root volume is encrypted only if the image is. " +
        "Set rootBlockDevice.encrypted: true.",
    ]);
  });

  it("refuses each unencrypted extra block device", async () => {
    const props = {
      ...goodInstance,
      ebsBlockDevices: [{ deviceName: "/dev/sdf", encrypted: true }, { deviceName: "/dev/sdg" }],
    };
    expect(await check(INSTANCE, props)).toEqual([
      "ebsBlockDevices[1].encrypted is not true. Set it to true.",
    ]);
  });

  it("allows an encrypted EBS volume and refuses an unencrypted one", async () => {
    expect(await check(VOLUME, goodVolume)).toEqual([]);
    const message =
      "encrypted is not true: the EBS volume would hold data at rest in the clear. " +
      "Set encrypted: true.";
    expect(await check(VOLUME, { ...goodVolume, encrypted: false })).toEqual([message]);
    const { encrypted: _dropped, ...unset } = goodVolume;
    expect(await check(VOLUME, unset)).toEqual([message]);
  });
});

describe("devbox-owner-and-expiry-tags", () => {
  const check = (type: string, tags: unknown, config: object = {}) =>
    violations("devbox-owner-and-expiry-tags", type, { ...goodVolume, tags }, config);
  const missing = (key: string) =>
    `tag "${key}" is missing or empty. Every box and volume names its owner and expiry, so ` +
    `that a forgotten one can be traced and removed.`;

  it.each([INSTANCE, VOLUME])("allows a %s with both tags", async (type) => {
    expect(await check(type, TAGS)).toEqual([]);
  });

  it.each([INSTANCE, VOLUME])("refuses a %s without tags, naming both", async (type) => {
    expect(await check(type, undefined)).toEqual([
      missing("devbox:owner"),
      missing("devbox:expires-at"),
    ]);
  });

  it("refuses an empty owner and a missing expiry", async () => {
    expect(await check(INSTANCE, { "devbox:owner": " ", Name: "devbox-dev-instance" })).toEqual([
      missing("devbox:owner"),
      missing("devbox:expires-at"),
    ]);
    expect(await check(VOLUME, { "devbox:owner": "ana" })).toEqual([missing("devbox:expires-at")]);
  });

  it("checks the tags the team configures", async () => {
    const config = { requiredTags: ["devbox:owner", "devbox:team"] };
    expect(await check(INSTANCE, TAGS, config)).toEqual([missing("devbox:team")]);
  });
});
