/**
 * Everything that reaches a machine over SSH: the verification after `pulumi up` on AWS, and
 * the whole setup on a bring-your-own host. Both copy files with remote.CopyToRemote and run
 * one remote.Command whose exit status decides whether `pulumi up` succeeds.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedConfig } from "./config/load";
import { renderUserData, UserDataFile, verificationFiles } from "./userdata";
import { shellQuote } from "./shell";
import { parseVerifyReport, waitThenVerifyCommand } from "./verification";

/**
 * A booting GPU box answers SSH after a minute or two; 40 dials of up to 30 s each cover about
 * 20 minutes of a slow boot before the command gives up.
 */
export const DIAL_ERROR_LIMIT = 40;
export const PER_DIAL_TIMEOUT_SECONDS = 30;

export function homeOf(user: string): string {
  return user === "root" ? "/root" : `/home/${user}`;
}

/** Where copied files wait before `sudo install` puts them in place. */
export function stagingDir(user: string): string {
  return `${homeOf(user)}/.devbox-staging`;
}

export function connectionArgs(
  cfg: ResolvedConfig,
  host: pulumi.Input<string>,
  user: string,
  port: number,
): command.types.input.remote.ConnectionArgs {
  const key = cfg.settings.ssh.privateKey;
  return {
    host,
    user,
    port,
    // The key is a Pulumi secret: it stays encrypted in state and out of the plan.
    privateKey: key === undefined ? undefined : pulumi.secret(key),
    agentSocketPath: key === undefined ? process.env.SSH_AUTH_SOCK : undefined,
    dialErrorLimit: DIAL_ERROR_LIMIT,
    perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
  };
}

function archiveOf(files: readonly { path: string; content: string }[]): pulumi.asset.AssetArchive {
  const assets: Record<string, pulumi.asset.Asset> = {};
  for (const f of files)
    assets[f.path.replace(/^\/+/, "")] = new pulumi.asset.StringAsset(f.content);
  return new pulumi.asset.AssetArchive(assets);
}

/** `sudo install` of staged files to their absolute paths, keeping each file's mode. */
export function installCommand(staging: string, files: readonly UserDataFile[]): string {
  return files
    .map((f) => {
      const rel = f.path.replace(/^\/+/, "");
      return `sudo -n install -D -m ${f.permissions} ${shellQuote(`${staging}/${rel}`)} ${shellQuote(f.path)}`;
    })
    .join(" && ");
}

/** The remote check after an AWS box: copy devbox-wait/devbox-verify, then wait and verify. */
export function verifyAwsBox(
  name: string,
  cfg: ResolvedConfig,
  host: pulumi.Input<string>,
  triggers: pulumi.Input<unknown>[],
  opts: pulumi.CustomResourceOptions,
) {
  const { user, port } = cfg.settings.ssh;
  const staging = stagingDir(user);
  const files = verificationFiles();
  const connection = connectionArgs(cfg, host, user, port);
  const copy = new command.remote.CopyToRemote(
    `${name}-verify-files`,
    { connection, source: archiveOf(files), remotePath: staging, triggers },
    opts,
  );
  const create = [
    installCommand(staging, files),
    waitThenVerifyCommand({
      timeoutMinutes: cfg.settings.verify.timeoutMinutes,
      model: cfg.settings.verify.model,
    }),
  ].join(" && ");
  const cmd = new command.remote.Command(
    `${name}-verify`,
    { connection, create, triggers },
    {
      ...opts,
      dependsOn: [copy],
      customTimeouts: { create: `${cfg.settings.verify.timeoutMinutes + 30}m` },
    },
  );
  return { copy, command: cmd, outcome: cmd.stdout.apply(parseVerifyReport), create };
}

/**
 * Bring your own host: the same files the AWS box gets in user-data, copied over SSH and run
 * with sudo, in order, then the same wait-then-verify. No AWS resource is created.
 */
export function setUpOwnHost(name: string, cfg: ResolvedConfig) {
  const { address, port, user } = cfg.settings.host;
  const staging = stagingDir(user);
  // No EBS volume here: the data step takes DEVBOX_DATA_DEVICE from devbox.env, or leaves
  // /data as a plain folder when the host has no spare device.
  const rendered = renderUserData(cfg, "", { enforceLimit: false });
  const files: UserDataFile[] = [...rendered.files, ...verificationFiles()];
  const connection = connectionArgs(cfg, address!, user, port);
  const copy = new command.remote.CopyToRemote(`${name}-files`, {
    connection,
    source: archiveOf(files),
    remotePath: staging,
    triggers: [rendered.sha256],
  });
  const create = [
    installCommand(staging, files),
    // The runner runs every step not yet done, in order; on a workstation it runs in the
    // foreground (no cloud-init) so that a failure fails this command at once.
    "sudo -n /opt/devbox/bin/devbox-setup",
    waitThenVerifyCommand({
      timeoutMinutes: cfg.settings.verify.timeoutMinutes,
      model: cfg.settings.verify.model,
      environment: { DEVBOX_CLOUD_INIT: "" },
    }),
  ].join(" && ");
  const setup = new command.remote.Command(
    `${name}-setup`,
    { connection, create, triggers: [rendered.sha256] },
    {
      dependsOn: [copy],
      customTimeouts: { create: `${cfg.settings.verify.timeoutMinutes + 120}m` },
    },
  );
  return { copy, setup, outcome: setup.stdout.apply(parseVerifyReport), create };
}
