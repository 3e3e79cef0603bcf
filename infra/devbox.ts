/**
 * The GpuDevBox component: security group, key pair, data volume, instance and the volume's
 * attachment. The class only wires resources together; every property a reviewer cares about is
 * computed by a plain function below, which the tests call one by one.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedConfig } from "./config/load";
import { CostEstimate, estimateHourly } from "./cost";
import { Placement } from "./network";

/** The data volume is always attached here; on Nitro types it shows up as an NVMe device whose
 * serial is the volume ID, which is how the boot-time setup finds it. */
export const DATA_DEVICE_NAME = "/dev/sdf";

export type Tags = Record<string, string>;

/** Expiry of a box with a time-to-live, as an ISO time; "never" without one. */
export function expiryTime(ttlHours: number, now: Date): string {
  if (ttlHours <= 0) return "never";
  return new Date(now.getTime() + ttlHours * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The tags every taggable resource carries; `role` goes into the Name tag. */
export function boxTags(cfg: ResolvedConfig, expiresAt: string, role: string): Tags {
  return {
    Name: `devbox-${cfg.stack}-${role}`,
    "devbox:owner": cfg.settings.owner ?? "unowned",
    "devbox:team": cfg.settings.team,
    "devbox:stack": cfg.stack,
    "devbox:expires-at": expiresAt,
  };
}

/**
 * SSH only from the configured ranges. No range means no inbound rule at all (the plan warns);
 * a world-open range gets here only past the schema's allowFromAnywhere check.
 */
export function securityGroupArgs(
  cfg: ResolvedConfig,
  vpcId: pulumi.Input<string>,
  tags: Tags,
): aws.ec2.SecurityGroupArgs {
  const { port, allowedCidrs } = cfg.settings.ssh;
  const v4 = allowedCidrs.filter((c) => !c.includes(":"));
  const v6 = allowedCidrs.filter((c) => c.includes(":"));
  const ingress: aws.types.input.ec2.SecurityGroupIngress[] = [];
  if (v4.length > 0) {
    ingress.push({
      description: "SSH",
      protocol: "tcp",
      fromPort: port,
      toPort: port,
      cidrBlocks: v4,
    });
  }
  if (v6.length > 0) {
    ingress.push({
      description: "SSH (IPv6)",
      protocol: "tcp",
      fromPort: port,
      toPort: port,
      ipv6CidrBlocks: v6,
    });
  }
  return {
    vpcId,
    description: `llm-devbox ${cfg.stack}: SSH from configured ranges only`,
    ingress,
    // Setup downloads drivers, CUDA, Anaconda and wheels: egress stays open.
    egress: [
      {
        description: "all outbound",
        protocol: "-1",
        fromPort: 0,
        toPort: 0,
        cidrBlocks: ["0.0.0.0/0"],
        ipv6CidrBlocks: ["::/0"],
      },
    ],
    tags,
  };
}

export function dataVolumeArgs(
  cfg: ResolvedConfig,
  availabilityZone: string,
  tags: Tags,
): aws.ebs.VolumeArgs {
  const v = cfg.settings.dataVolume;
  return {
    availabilityZone,
    type: "gp3",
    size: v.sizeGiB,
    iops: v.iops,
    throughput: v.throughputMiBps,
    encrypted: true,
    // A snapshot on deletion would outlive a forgotten stack; keepAfterDestroy is the opt-in.
    finalSnapshot: false,
    tags,
  };
}

export interface InstanceInputs {
  imageId: pulumi.Input<string>;
  subnetId: pulumi.Input<string>;
  securityGroupId: pulumi.Input<string>;
  keyName?: pulumi.Input<string>;
  userDataBase64?: pulumi.Input<string>;
  tags: Tags;
}

export function instanceArgs(cfg: ResolvedConfig, inputs: InstanceInputs): aws.ec2.InstanceArgs {
  const type = cfg.instanceType;
  if (type === undefined) throw new Error("instanceArgs needs an AWS target with a chosen type");
  const { spot } = cfg.settings.instance;
  const terminateWhenIdle = cfg.settings.autostop.action === "terminate";
  return {
    ami: inputs.imageId,
    instanceType: type.name,
    subnetId: inputs.subnetId,
    vpcSecurityGroupIds: [inputs.securityGroupId],
    keyName: inputs.keyName,
    associatePublicIpAddress: true,
    ebsOptimized: true,
    // IMDSv2 only; one hop, so a container on the box cannot reach the instance's credentials.
    metadataOptions: {
      httpEndpoint: "enabled",
      httpTokens: "required",
      httpPutResponseHopLimit: 1,
    },
    rootBlockDevice: {
      volumeType: "gp3",
      volumeSize: cfg.settings.rootVolume.sizeGiB,
      encrypted: true,
      deleteOnTermination: true,
      tags: inputs.tags,
    },
    userDataBase64: inputs.userDataBase64,
    // Setup runs once per instance: a stop/start with new user-data would not apply it.
    userDataReplaceOnChange: true,
    // The box powers itself off when idle or expired; EC2 turns that into stop or terminate, so
    // the box needs no AWS credentials of its own.
    instanceInitiatedShutdownBehavior: terminateWhenIdle ? "terminate" : "stop",
    instanceMarketOptions: spot
      ? {
          marketType: "spot",
          spotOptions: terminateWhenIdle
            ? { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" }
            : // Only a persistent request can be stopped and started again.
              { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" },
        }
      : undefined,
    tags: inputs.tags,
  };
}

export interface Connection {
  sshCommand: string;
  sshConfig: string;
  jupyterTunnel: string;
}

export function connectionInfo(cfg: ResolvedConfig, address: string): Connection {
  const { user, port } = cfg.settings.ssh;
  const jport = cfg.settings.jupyter.port;
  const host = `devbox-${cfg.stack}`;
  return {
    sshCommand: `ssh -p ${port} ${user}@${address}`,
    sshConfig: [
      `Host ${host}`,
      `  HostName ${address}`,
      `  User ${user}`,
      `  Port ${port}`,
      `  ServerAliveInterval 60`,
      "",
    ].join("\n"),
    jupyterTunnel: `ssh -N -L ${jport}:127.0.0.1:${jport} -p ${port} ${user}@${address}`,
  };
}

export function costOf(cfg: ResolvedConfig): CostEstimate {
  if (cfg.instanceType === undefined) throw new Error("costOf needs an AWS target");
  const s = cfg.settings;
  return estimateHourly(
    cfg.instanceType,
    { sizeGiB: s.rootVolume.sizeGiB },
    s.dataVolume,
    s.instance.spot,
  );
}

export interface GpuDevBoxArgs {
  config: ResolvedConfig;
  imageId: pulumi.Input<string>;
  placement: Placement;
  /** Renders the user-data (gzip+base64, and its hash) once the data volume's ID is known. */
  userData?: (dataVolumeId: string) => { gzipBase64: string; sha256: string };
  /** Creation time; the expiry tag counts from it. */
  now: Date;
}

export class GpuDevBox extends pulumi.ComponentResource {
  public readonly instanceId: pulumi.Output<string>;
  public readonly instanceType: string;
  public readonly availabilityZone: string;
  public readonly publicIp: pulumi.Output<string>;
  public readonly privateIp: pulumi.Output<string>;
  public readonly sshCommand: pulumi.Output<string>;
  public readonly sshConfig: pulumi.Output<string>;
  public readonly jupyterTunnel: pulumi.Output<string>;
  public readonly dataVolumeId: pulumi.Output<string>;
  public readonly dataVolumeKept: boolean;
  public readonly hourlyCost: CostEstimate;
  public readonly expiresAt: string;
  public readonly instance: aws.ec2.Instance;
  public readonly dataAttachment: aws.ec2.VolumeAttachment;
  public readonly userDataBase64: pulumi.Output<string> | undefined;
  /** SHA-256 of the user-data document: what the verification's triggers watch. */
  public readonly userDataSha256: pulumi.Output<string> | undefined;

  constructor(name: string, args: GpuDevBoxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("devbox:aws:GpuDevBox", name, {}, opts);
    const cfg = args.config;
    const expiresAt = expiryTime(cfg.settings.ttlHours, args.now);
    const tags = (role: string) => boxTags(cfg, expiresAt, role);
    const child = { parent: this };
    // The expiry is fixed when the box is made; later updates must not move it.
    const keepExpiry = { ...child, ignoreChanges: ['tags["devbox:expires-at"]'] };

    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      securityGroupArgs(cfg, args.placement.vpcId, tags("sg")),
      keepExpiry,
    );
    const [firstKey] = cfg.settings.ssh.publicKeys;
    const keyPair =
      firstKey === undefined
        ? undefined
        : new aws.ec2.KeyPair(
            `${name}-key`,
            { publicKey: firstKey, tags: tags("key") },
            keepExpiry,
          );

    const kept = cfg.settings.dataVolume.keepAfterDestroy;
    const volume = new aws.ebs.Volume(
      `${name}-data`,
      dataVolumeArgs(cfg, args.placement.availabilityZone, tags("data")),
      { ...keepExpiry, retainOnDelete: kept },
    );
    const render = args.userData;
    const rendered = render ? volume.id.apply((id) => render(id)) : undefined;
    this.userDataBase64 = rendered?.gzipBase64;
    this.userDataSha256 = rendered?.sha256;

    this.instance = new aws.ec2.Instance(
      `${name}-instance`,
      instanceArgs(cfg, {
        imageId: args.imageId,
        subnetId: args.placement.subnetId,
        securityGroupId: sg.id,
        keyName: keyPair?.keyName,
        userDataBase64: this.userDataBase64,
        tags: tags("instance"),
      }),
      {
        ...child,
        ignoreChanges: ['tags["devbox:expires-at"]', 'rootBlockDevice.tags["devbox:expires-at"]'],
      },
    );
    this.dataAttachment = new aws.ec2.VolumeAttachment(
      `${name}-data-attachment`,
      {
        deviceName: DATA_DEVICE_NAME,
        volumeId: volume.id,
        instanceId: this.instance.id,
        // Stop the box before detaching so the filesystem is unmounted cleanly.
        stopInstanceBeforeDetaching: true,
      },
      child,
    );

    const conn = this.instance.publicIp.apply((ip) => connectionInfo(cfg, ip));
    this.instanceId = this.instance.id;
    this.instanceType = cfg.instanceType!.name;
    this.availabilityZone = args.placement.availabilityZone;
    this.publicIp = this.instance.publicIp;
    this.privateIp = this.instance.privateIp;
    this.sshCommand = conn.sshCommand;
    this.sshConfig = conn.sshConfig;
    this.jupyterTunnel = conn.jupyterTunnel;
    this.dataVolumeId = volume.id;
    this.dataVolumeKept = kept;
    this.hourlyCost = costOf(cfg);
    this.expiresAt = expiresAt;
    this.registerOutputs({
      instanceId: this.instanceId,
      publicIp: this.publicIp,
      privateIp: this.privateIp,
      sshCommand: this.sshCommand,
      sshConfig: this.sshConfig,
      jupyterTunnel: this.jupyterTunnel,
      dataVolumeId: this.dataVolumeId,
      hourlyCost: this.hourlyCost,
      expiresAt: this.expiresAt,
    });
  }
}
