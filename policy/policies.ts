/**
 * The team's guardrails for llm-devbox stacks, one resource policy each. The checks are plain
 * functions of a resource's inputs so that tests can drive them without the Pulumi engine;
 * index.ts only hands this list to a PolicyPack (which starts the analyzer server).
 *
 * Each policy reads its settings through the policy config schema, e.g. in a file passed with
 * `pulumi up --policy-pack policy --policy-pack-config policy-config.json`:
 *   { "devbox-cost-ceiling": { "maxHourlyUsd": 20 },
 *     "devbox-allowed-instance-types": { "allowedInstanceTypes": ["g5.4xlarge"] } }
 *
 * Known limits: only the resource types named below are judged. Launch templates, spot fleet
 * requests and Auto Scaling groups are not: the kit creates none. Values unknown during a
 * preview (for example an instance type read from another resource) are judged at update time.
 * An account that encrypts EBS by default still fails the encryption policy when the program
 * does not ask for encryption itself: the policy sees the program's inputs, not the account.
 */
import { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { CATALOG_TYPES, HOURLY_USD, PRICE_DATE, PRICE_REGION } from "./prices";

export const INSTANCE = "aws:ec2/instance:Instance";
/** EBS volumes live in the provider's `ebs` module (aws.ebs.Volume). */
export const VOLUME = "aws:ebs/volume:Volume";
export const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
export const SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule";
export const INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";

export const WORLD_CIDRS: readonly string[] = ["0.0.0.0/0", "::/0"];

/** Defaults of every policy setting; the config schemas below publish the same values. */
export const DEFAULTS = {
  allowedInstanceTypes: CATALOG_TYPES,
  /** Above the dearest catalog type (g6e.48xlarge, about 30 USD/h), below anything larger. */
  maxHourlyUsd: 35,
  hourlyUsd: {} as Record<string, number>,
  sshPorts: [22] as readonly number[],
  requiredTags: ["devbox:owner", "devbox:expires-at"] as readonly string[],
};

type Props = Record<string, unknown>;

function configOf<T extends object>(args: ResourceValidationArgs, defaults: T): T {
  return { ...defaults, ...args.getConfig<Partial<T>>() };
}

function usd(value: number): string {
  return `$${value.toFixed(2)}/h`;
}

/** The instance type's problem with the allowed list, or undefined. */
export function checkInstanceType(props: Props, allowed: readonly string[]): string | undefined {
  const type = props.instanceType;
  if (typeof type !== "string" || allowed.includes(type)) return undefined;
  return (
    `instanceType "${type}" is not an allowed type. Use one of: ${allowed.join(", ")} ` +
    `(policy setting allowedInstanceTypes).`
  );
}

/** The instance type's problem with the hourly ceiling, or undefined. */
export function checkHourlyCost(
  props: Props,
  maxHourlyUsd: number,
  extraPrices: Readonly<Record<string, number>>,
): string | undefined {
  const type = props.instanceType;
  if (typeof type !== "string") return undefined;
  const price = extraPrices[type] ?? HOURLY_USD[type];
  if (price === undefined) {
    return (
      `instanceType "${type}" has no price in the policy's table, so the ceiling of ` +
      `${usd(maxHourlyUsd)} cannot be checked. Add its hourly price under the policy setting hourlyUsd.`
    );
  }
  if (price <= maxHourlyUsd) return undefined;
  return (
    `instanceType "${type}" costs ${usd(price)} on demand (${PRICE_REGION}, ${PRICE_DATE} ` +
    `snapshot), over the team's ceiling of ${usd(maxHourlyUsd)}. Pick a smaller type, or raise ` +
    `the policy setting maxHourlyUsd.`
  );
}

interface IngressLike {
  protocol?: unknown;
  fromPort?: unknown;
  toPort?: unknown;
  cidrs: unknown[];
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Whether a rule for this protocol and port range lets TCP traffic to `port` through. */
function coversPort(rule: IngressLike, port: number): boolean {
  const protocol = String(rule.protocol ?? "-1").toLowerCase();
  if (protocol === "-1" || protocol === "all") return true;
  if (protocol !== "tcp" && protocol !== "6") return false;
  const from = typeof rule.fromPort === "number" ? rule.fromPort : 0;
  const to = typeof rule.toPort === "number" ? rule.toPort : 65535;
  return from <= port && port <= to;
}

/** The fields of a SecurityGroup inline block or a SecurityGroupRule, and nothing else. */
function fromCidrBlocks(p: Props): IngressLike {
  // Read field by field: spreading would touch every input, and an input unknown during a
  // preview (securityGroupId, say) would make the engine skip the whole policy.
  return {
    protocol: p.protocol,
    fromPort: p.fromPort,
    toPort: p.toPort,
    cidrs: [...asArray(p.cidrBlocks), ...asArray(p.ipv6CidrBlocks)],
  };
}

/**
 * Ingress written three ways: inline `ingress` blocks on a SecurityGroup, a SecurityGroupRule of
 * type "ingress", or a vpc SecurityGroupIngressRule (one CIDR each). Egress is never judged.
 */
export function ingressRules(type: string, props: Props): { label: string; rule: IngressLike }[] {
  if (type === SECURITY_GROUP) {
    return asArray(props.ingress).map((block, i) => ({
      label: `ingress[${i}]`,
      rule: fromCidrBlocks((block ?? {}) as Props),
    }));
  }
  if (type === SECURITY_GROUP_RULE && props.type === "ingress") {
    return [{ label: "the ingress rule", rule: fromCidrBlocks(props) }];
  }
  if (type === INGRESS_RULE) {
    const rule = {
      protocol: props.ipProtocol,
      fromPort: props.fromPort,
      toPort: props.toPort,
      cidrs: [props.cidrIpv4, props.cidrIpv6].filter((c) => c !== undefined),
    };
    return [{ label: "the ingress rule", rule }];
  }
  return [];
}

/** One message per rule that opens an SSH port to the whole internet. */
export function checkSshRanges(type: string, props: Props, sshPorts: readonly number[]): string[] {
  const problems: string[] = [];
  for (const { label, rule } of ingressRules(type, props)) {
    const open = rule.cidrs.filter((c) => typeof c === "string" && WORLD_CIDRS.includes(c.trim()));
    const ports = sshPorts.filter((p) => coversPort(rule, p));
    if (open.length > 0 && ports.length > 0) {
      problems.push(
        `${label} opens SSH (port ${ports.join(", ")}) to ${open.join(" and ")}. Admit only ` +
          `known ranges (devbox:ssh.allowedCidrs), such as 203.0.113.7/32.`,
      );
    }
  }
  return problems;
}

export function checkImdsV2(props: Props): string | undefined {
  const options = (props.metadataOptions ?? {}) as Props;
  if (options.httpTokens === "required") return undefined;
  const got = options.httpTokens === undefined ? "not set" : `"${String(options.httpTokens)}"`;
  return (
    `metadataOptions.httpTokens is ${got}; it must be "required" (IMDSv2). With IMDSv1 any ` +
    `process on the box, or a request it is tricked into forwarding, can read the instance's ` +
    `credentials.`
  );
}

/** One message per unencrypted volume of an instance (root and extra EBS block devices). */
export function checkInstanceEncryption(props: Props): string[] {
  const problems: string[] = [];
  const root = props.rootBlockDevice as Props | undefined;
  if (root === undefined) {
    problems.push(
      "rootBlockDevice is not set, so the root volume is encrypted only if the image is. " +
        "Set rootBlockDevice.encrypted: true.",
    );
  } else if (root.encrypted !== true) {
    problems.push("rootBlockDevice.encrypted is not true. Set rootBlockDevice.encrypted: true.");
  }
  asArray(props.ebsBlockDevices).forEach((device, i) => {
    if (((device ?? {}) as Props).encrypted !== true) {
      problems.push(`ebsBlockDevices[${i}].encrypted is not true. Set it to true.`);
    }
  });
  return problems;
}

export function checkVolumeEncryption(props: Props): string | undefined {
  if (props.encrypted === true) return undefined;
  return "encrypted is not true: the EBS volume would hold data at rest in the clear. Set encrypted: true.";
}

/** One message per required tag that is missing or empty. */
export function checkTags(props: Props, required: readonly string[]): string[] {
  const tags = (props.tags ?? {}) as Props;
  return required
    .filter((key) => typeof tags[key] !== "string" || (tags[key] as string).trim() === "")
    .map(
      (key) =>
        `tag "${key}" is missing or empty. Every box and volume names its owner and expiry, so ` +
        `that a forgotten one can be traced and removed.`,
    );
}

function report(reportViolation: ReportViolation, problems: (string | undefined)[]): void {
  for (const p of problems) if (p !== undefined) reportViolation(p);
}

export const policies: ResourceValidationPolicy[] = [
  {
    name: "devbox-allowed-instance-types",
    description:
      "Instances use a GPU type from the team's allowed list (default: the kit's catalog).",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        allowedInstanceTypes: {
          type: "array",
          items: { type: "string" },
          default: [...DEFAULTS.allowedInstanceTypes],
          description: "EC2 instance types a box may use.",
        },
      },
    },
    validateResource: (args, reportViolation) => {
      if (args.type !== INSTANCE) return;
      const { allowedInstanceTypes } = configOf(args, {
        allowedInstanceTypes: DEFAULTS.allowedInstanceTypes,
      });
      report(reportViolation, [checkInstanceType(args.props, allowedInstanceTypes)]);
    },
  },
  {
    name: "devbox-cost-ceiling",
    description: "An instance's on-demand hourly price stays under the team's ceiling.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        maxHourlyUsd: {
          type: "number",
          minimum: 0,
          default: DEFAULTS.maxHourlyUsd,
          description: "Highest on-demand price per hour, in USD.",
        },
        hourlyUsd: {
          type: "object",
          additionalProperties: { type: "number", minimum: 0 },
          default: {},
          description: "Extra or corrected prices by instance type, in USD per hour.",
        },
      },
    },
    validateResource: (args, reportViolation) => {
      if (args.type !== INSTANCE) return;
      const { maxHourlyUsd, hourlyUsd } = configOf(args, {
        maxHourlyUsd: DEFAULTS.maxHourlyUsd,
        hourlyUsd: DEFAULTS.hourlyUsd,
      });
      report(reportViolation, [checkHourlyCost(args.props, maxHourlyUsd, hourlyUsd)]);
    },
  },
  {
    name: "devbox-ssh-not-open-to-world",
    description: "No ingress rule opens the SSH port to 0.0.0.0/0 or ::/0.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        sshPorts: {
          type: "array",
          items: { type: "integer", minimum: 1, maximum: 65535 },
          default: [...DEFAULTS.sshPorts],
          description: "Ports that carry SSH (the kit's devbox:ssh.port).",
        },
      },
    },
    validateResource: (args, reportViolation) => {
      const { sshPorts } = configOf(args, { sshPorts: DEFAULTS.sshPorts });
      report(reportViolation, checkSshRanges(args.type, args.props, sshPorts));
    },
  },
  {
    name: "devbox-imdsv2-required",
    description: "Instances require IMDSv2 session tokens (metadataOptions.httpTokens: required).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
      if (args.type !== INSTANCE) return;
      report(reportViolation, [checkImdsV2(args.props)]);
    },
  },
  {
    name: "devbox-encrypted-volumes",
    description: "Root devices, extra block devices and EBS volumes are encrypted.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
      if (args.type === INSTANCE) report(reportViolation, checkInstanceEncryption(args.props));
      if (args.type === VOLUME) report(reportViolation, [checkVolumeEncryption(args.props)]);
    },
  },
  {
    name: "devbox-owner-and-expiry-tags",
    description: "Instances and EBS volumes carry the owner and expiry tags.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        requiredTags: {
          type: "array",
          items: { type: "string" },
          default: [...DEFAULTS.requiredTags],
          description: "Tag keys every instance and EBS volume must carry, non-empty.",
        },
      },
    },
    validateResource: (args, reportViolation) => {
      if (args.type !== INSTANCE && args.type !== VOLUME) return;
      const { requiredTags } = configOf(args, { requiredTags: DEFAULTS.requiredTags });
      report(reportViolation, checkTags(args.props, requiredTags));
    },
  },
];
