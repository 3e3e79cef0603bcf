/**
 * The Pulumi program: validated config in, one verified GPU box out. Config is read when the
 * program runs (not when the module loads), so the offline plan and the tests can set Pulumi's
 * mocks and config first.
 */
import * as pulumi from "@pulumi/pulumi";
import { PulumiConfigMap, ResolvedConfig, resolveConfig } from "./config/load";
import { GpuDevBox } from "./devbox";
import { resolveImage } from "./image";
import { choosePlacement } from "./network";
import { setUpOwnHost, verifyAwsBox } from "./onbox";
import { renderUserData } from "./userdata";

export interface ProgramOptions {
  /** Defaults to the engine's config. */
  config?: PulumiConfigMap;
  stack?: string;
  /** Creation time for the expiry tag; tests and the plan pin it. */
  now?: Date;
  /** Report warnings somewhere other than Pulumi's log (the offline plan prints its own). */
  onWarning?: (message: string) => void;
}

/** Stack outputs. Keys are stable: scripts/devbox.ts and the README refer to them. */
export type ProgramOutputs = Record<string, unknown>;

export async function devboxProgram(opts: ProgramOptions = {}): Promise<ProgramOutputs> {
  const cfg: ResolvedConfig = resolveConfig(
    opts.config ?? pulumi.runtime.allConfig(),
    opts.stack ?? pulumi.getStack(),
  );
  const warn = opts.onWarning ?? ((m: string) => pulumi.log.warn(m));
  cfg.warnings.forEach(warn);
  const now = opts.now ?? new Date();

  if (cfg.settings.target === "ssh") {
    // Bring your own host: no AWS resource, only the copy and the setup-then-verify command.
    const own = setUpOwnHost("devbox", cfg);
    return {
      target: "ssh",
      host: cfg.settings.host.address,
      reason: cfg.reason,
      sshCommand: `ssh -p ${cfg.settings.host.port} ${cfg.settings.host.user}@${cfg.settings.host.address}`,
      verification: own.outcome,
    };
  }

  const type = cfg.instanceType!;
  // Both lookups run before any resource exists: a type the region does not offer stops here.
  const placement = await choosePlacement(cfg.region, type.name, cfg.settings.network.subnetId);
  const image = await resolveImage(cfg.partition, cfg.settings.os);

  // Rendered once before any resource exists, so that user-data over EC2's limit is refused
  // with nothing created. Volume IDs have a fixed length: a stand-in gives the real size.
  const sized = renderUserData(cfg, "vol-0123456789abcdef0");
  const box = new GpuDevBox("devbox", {
    config: cfg,
    imageId: image.id,
    placement,
    now,
    userData: (volumeId) => renderUserData(cfg, volumeId),
  });
  const verify = cfg.settings.verify.enabled
    ? verifyAwsBox(
        "devbox",
        cfg,
        box.publicIp,
        // A new instance or new user-data means a new box to check.
        [box.instanceId, box.userDataSha256 ?? ""],
        { parent: box, dependsOn: [box.instance, box.dataAttachment] },
      )
    : undefined;
  return {
    instanceId: box.instanceId,
    instanceType: box.instanceType,
    reason: cfg.reason,
    availabilityZone: box.availabilityZone,
    image: image.name,
    publicIp: box.publicIp,
    privateIp: box.privateIp,
    sshCommand: box.sshCommand,
    sshConfig: box.sshConfig,
    jupyterTunnel: box.jupyterTunnel,
    dataVolumeId: box.dataVolumeId,
    dataVolumeKeptOnDestroy: box.dataVolumeKept,
    hourlyCostUsd: box.hourlyCost,
    expiresAt: box.expiresAt,
    userData: {
      bytes: sized.bytes,
      compressedBytes: sized.compressedBytes,
      limitBytes: sized.limitBytes,
    },
    verification: verify ? verify.outcome : "disabled (devbox:verify.enabled is false)",
  };
}
